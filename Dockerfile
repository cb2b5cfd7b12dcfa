# syntax=docker/dockerfile:1
# PatientPulse API image: compiled JavaScript on node:22-slim, production dependencies
# only, running as the unprivileged `node` user. Embedded data lives in the /data volume;
# set DATABASE_URL to use PostgreSQL instead (see docker-compose.yml).

FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && rm -rf src tsconfig*.json

FROM node:22-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data
WORKDIR /app
# Application files stay owned by root (read-only for the server); only /data is writable.
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
USER node
VOLUME ["/data"]
EXPOSE 8000
# Liveness only: a database outage shows on /readyz, and must not get the container restarted.
# The slim image has no curl; Node's fetch does the probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) drains gracefully within SHUTDOWN_TIMEOUT_MS (default 10 s);
# give the container a longer stop timeout than that (docker-compose.yml: 30 s).
STOPSIGNAL SIGTERM
# A larger young generation: fewer scavenges of the requests in flight (docs/DESIGN.md,
# "HTTP request cost"). The same flag as `npm run start:prod`.
CMD ["node", "--max-semi-space-size=32", "dist/server.js"]
