/** Schema for /api/v1/me: what the presented key may do. */
import { type Static, Type } from 'typebox';
import { errorResponses, Nullable } from '../../http/common.schemas.js';

export const MeResponse = Type.Object({
  key_id: Type.Integer(),
  role: Type.String(),
  permissions: Type.Array(Type.String()),
  patient_ids: Nullable(
    Type.Array(Type.Integer(), { description: 'The patients this key is limited to; null means all patients' }),
  ),
});
export type MeResponseDto = Static<typeof MeResponse>;

export const meSchema = {
  tags: ['keys'],
  summary: 'The role, permissions and patient scope of the presented API key',
  description: 'Lets a client (such as the dashboard) show only what the key may do.',
  response: { 200: MeResponse, ...errorResponses },
};
