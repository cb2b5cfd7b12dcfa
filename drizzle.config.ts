import { defineConfig } from 'drizzle-kit';

// Only generates SQL from src/db/schema.ts; migrations are applied at runtime by the app.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
