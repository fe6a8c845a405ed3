import { useRef, useState } from "react";
import type { FormEvent } from "react";
import type { CombinedError } from "urql";
import { graphql } from "../../gql";
import type { CreateSecretInput } from "../../gql/graphql";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { navigate } from "../../router";
import { useValueMutation } from "../../valueMutation";
import {
  ROTATION_POLICIES,
  ROTATION_POLICY_LABELS,
  SECRET_TYPES,
  SECRET_TYPE_LABELS,
  isRotationPolicy,
  isSecretType,
  parseTags,
} from "./listChoices";

const CreateSecret = graphql(`
  mutation ConsoleCreateSecret($workspaceId: ID!, $input: CreateSecretInput!) {
    createSecret(workspaceId: $workspaceId, input: $input) {
      id
    }
  }
`);

type MetadataReading = { ok: true; metadata: Record<string, unknown> | null } | { ok: false; problem: string };

/** The metadata field's text as a JSON object (empty: none), or why it is not one. */
function readMetadata(text: string): MetadataReading {
  if (text.trim() === "") return { ok: true, metadata: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : "it cannot be read";
    return { ok: false, problem: `Metadata is not valid JSON: ${detail}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { ok: false, problem: 'Metadata must be a JSON object, e.g. {"owner": "payments"}' };
  }
  return { ok: true, metadata: parsed as Record<string, unknown> };
}

/**
 * Creates a secret. The value is typed by the user into a password field
 * (shown only on request), read from the form once on submit and sent in
 * the mutation; it is never kept in React state, and the answer asks for the
 * new secret's id only. On success the console opens the new secret's page.
 */
export function ListNewSecretDialog(props: { workspaceId: string; open: boolean; onClose: () => void }) {
  return (
    <Dialog title="New secret" open={props.open} onClose={props.onClose}>
      <NewSecretForm workspaceId={props.workspaceId} onCancel={props.onClose} />
    </Dialog>
  );
}

function NewSecretForm(props: { workspaceId: string; onCancel: () => void }) {
  const [{ fetching }, createSecret] = useValueMutation(CreateSecret);
  const [showValue, setShowValue] = useState(false);
  const [metadataProblem, setMetadataProblem] = useState<string | null>(null);
  const [failure, setFailure] = useState<CombinedError | null>(null);
  const metadataField = useRef<HTMLTextAreaElement>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (field: string) => String(form.get(field) ?? "");
    const metadata = readMetadata(text("metadata"));
    if (!metadata.ok) {
      setMetadataProblem(metadata.problem);
      metadataField.current?.focus();
      return;
    }
    setMetadataProblem(null);
    const secretType = text("secretType");
    const rotationPolicy = text("rotationPolicy");
    const usage = text("usage").trim();
    const input: CreateSecretInput = {
      name: text("name").trim(),
      secretType: isSecretType(secretType) ? secretType : "GENERIC",
      value: text("value"),
      usage: usage || null,
      tags: parseTags(text("tags")),
      rotationPolicy: isRotationPolicy(rotationPolicy) ? rotationPolicy : null,
      metadata: metadata.metadata,
    };
    const result = await createSecret({ workspaceId: props.workspaceId, input });
    const created = result.data?.createSecret;
    if (result.error || !created) {
      setFailure(result.error ?? null);
      return;
    }
    navigate({ workspaceId: props.workspaceId, screen: "secret", id: created.id });
  }

  return (
    <form className="list-new-secret" onSubmit={submit}>
      <label>
        Name
        <input name="name" required autoComplete="off" spellCheck={false} autoFocus aria-describedby="new-secret-name-help" />
      </label>
      <p id="new-secret-name-help" className="muted list-help">
        Letters, digits and underscores, starting with a letter or underscore (e.g. STRIPE_API_KEY).
      </p>
      <div className="list-field">
        <label htmlFor="new-secret-type">Type</label>
        <select id="new-secret-type" name="secretType" defaultValue="GENERIC">
          {SECRET_TYPES.map((type) => (
            <option key={type} value={type}>
              {SECRET_TYPE_LABELS[type]}
            </option>
          ))}
        </select>
      </div>
      <div className="list-value-row">
        <label>
          Value
          <input
            name="value"
            type={showValue ? "text" : "password"}
            required
            autoComplete="off"
            spellCheck={false}
            className="mono"
          />
        </label>
        <button type="button" aria-pressed={showValue} onClick={() => setShowValue((shown) => !shown)}>
          {showValue ? "Hide value" : "Show value"}
        </button>
      </div>
      <label className="list-wide">
        Usage
        <input name="usage" autoComplete="off" placeholder="what uses this secret, e.g. checkout service" />
      </label>
      <label className="list-wide">
        Tags (comma separated)
        <input name="tags" autoComplete="off" spellCheck={false} placeholder="payments, prod" />
      </label>
      <div className="list-field">
        <label htmlFor="new-secret-rotation-policy">Rotation policy</label>
        <select id="new-secret-rotation-policy" name="rotationPolicy" defaultValue="">
          <option value="">server default</option>
          {ROTATION_POLICIES.map((policy) => (
            <option key={policy} value={policy}>
              {ROTATION_POLICY_LABELS[policy]}
            </option>
          ))}
        </select>
      </div>
      <label className="list-wide">
        Metadata (optional JSON object)
        <textarea
          ref={metadataField}
          name="metadata"
          className="list-metadata-input"
          spellCheck={false}
          placeholder='{"owner": "payments"}'
          aria-invalid={metadataProblem ? true : undefined}
          aria-describedby={metadataProblem ? "new-secret-metadata-problem" : undefined}
          onChange={() => setMetadataProblem(null)}
        />
      </label>
      {metadataProblem && (
        <p id="new-secret-metadata-problem" className="notice notice-error" role="alert">
          {metadataProblem}
        </p>
      )}
      {failure && <ErrorNotice error={failure} what="create the secret" />}
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={fetching}>
          {fetching ? "Creating…" : "Create secret"}
        </button>
      </div>
    </form>
  );
}
