// The server's role table (graphql_api/services/access.py), used only to hide
// controls a principal cannot use. The server decides: a hidden button is a
// courtesy, a FORBIDDEN answer is still handled everywhere.
import type { Role } from "./gql/graphql";

export type Permission = "list" | "read" | "write" | "audit" | "destroy" | "manage";

const VIEWER: Permission[] = ["list"];
const READER: Permission[] = [...VIEWER, "read"];
const WRITER: Permission[] = [...READER, "write"];

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  VIEWER,
  READER,
  WRITER,
  AUDITOR: ["audit"],
  ADMIN: ["list", "read", "write", "audit", "destroy", "manage"],
};

export interface Viewer {
  id: string;
  name: string;
  isSuperadmin: boolean;
  bindings: readonly { workspaceId: string; role: Role }[];
}

export function roleIn(viewer: Viewer, workspaceId: string): Role | null {
  return viewer.bindings.find((b) => b.workspaceId === workspaceId)?.role ?? null;
}

export function may(viewer: Viewer, workspaceId: string, permission: Permission): boolean {
  if (viewer.isSuperadmin) return true;
  const role = roleIn(viewer, workspaceId);
  return role !== null && ROLE_PERMISSIONS[role].includes(permission);
}
