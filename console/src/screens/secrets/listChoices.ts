// The schema's enums as the list and its dialog offer them. Each table is a
// Record over the generated union, so a member the schema adds or drops
// fails the console's type check instead of silently missing from a select.
import type { RotationPolicy, SecretType } from "../../gql/graphql";

export const SECRET_TYPE_LABELS: Record<SecretType, string> = {
  API_KEY: "API key",
  DATABASE_CREDENTIAL: "Database credential",
  OAUTH_TOKEN: "OAuth token",
  SSH_KEY: "SSH key",
  JWT_SECRET: "JWT secret",
  ENCRYPTION_KEY: "Encryption key",
  PASSWORD: "Password",
  CERTIFICATE: "Certificate",
  WEBHOOK_SECRET: "Webhook secret",
  GENERIC: "Generic",
};

export const ROTATION_POLICY_LABELS: Record<RotationPolicy, string> = {
  MANUAL: "Manual",
  AUTO_30_DAYS: "Every 30 days",
  AUTO_60_DAYS: "Every 60 days",
  AUTO_90_DAYS: "Every 90 days",
  AUTO_180_DAYS: "Every 180 days",
  AUTO_365_DAYS: "Every 365 days",
};

export const SECRET_TYPES = Object.keys(SECRET_TYPE_LABELS) as SecretType[];
export const ROTATION_POLICIES = Object.keys(ROTATION_POLICY_LABELS) as RotationPolicy[];

export function isSecretType(value: string): value is SecretType {
  return Object.hasOwn(SECRET_TYPE_LABELS, value);
}

export function isRotationPolicy(value: string): value is RotationPolicy {
  return Object.hasOwn(ROTATION_POLICY_LABELS, value);
}

/** "a, b ,, c" → ["a", "b", "c"]: how tags are typed in this screen. */
export function parseTags(text: string): string[] {
  return text
    .split(",")
    .map((tag) => tag.trim())
    .filter((tag) => tag !== "");
}
