/**
 * Roles and what each may do. Object-level scoping (which patients) is separate: see
 * `Principal.patientIds`.
 */

export const ROLES = ['admin', 'clinician', 'device', 'patient', 'reader', 'metrics'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'patients:read',
  'patients:write',
  'readings:read',
  'readings:write',
  'analytics:read',
  'analytics:run',
  'keys:manage',
  'audit:read',
  'metrics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  clinician: ['patients:read', 'patients:write', 'readings:read', 'readings:write', 'analytics:read'],
  device: ['readings:write'],
  patient: ['patients:read', 'readings:read', 'readings:write', 'analytics:read'],
  reader: ['patients:read', 'readings:read', 'analytics:read'],
  metrics: ['metrics:read'],
};

export function roleHas(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

export function isRole(v: string): v is Role {
  return (ROLES as readonly string[]).includes(v);
}

/** The authenticated caller of a request. */
export interface Principal {
  keyId: number;
  role: Role;
  /** Patients this key may touch; null means all patients. */
  patientIds: number[] | null;
}

/** True when the principal may touch `patientId` (object-level check). */
export function canAccessPatient(principal: Principal, patientId: number): boolean {
  return principal.patientIds === null || principal.patientIds.includes(patientId);
}
