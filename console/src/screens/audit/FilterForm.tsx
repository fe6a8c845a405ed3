// The filters both views share. A secret may be given by id, or by name when
// the viewer may list secrets (secretByName resolves it, itself audited as VIEWED).
import { useState } from "react";
import { useClient } from "urql";
import type { CombinedError } from "urql";
import { graphql } from "../../gql";
import type { AuditAction } from "../../gql/graphql";
import { ErrorNotice } from "../../components/ErrorNotice";
import { useSession } from "../../session";
import { may } from "../../permissions";
import { AUDIT_ACTIONS, NO_FILTERS } from "./events";
import type { AuditFilters } from "./events";

const SecretByNameQuery = graphql(`
  query AuditSecretByName($workspaceId: ID!, $name: String!) {
    secretByName(workspaceId: $workspaceId, name: $name) {
      id
    }
  }
`);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function FilterForm(props: { workspaceId: string; onApply: (filters: AuditFilters) => void }) {
  const client = useClient();
  const { viewer } = useSession();
  const byName = may(viewer, props.workspaceId, "list");
  const [action, setAction] = useState("");
  const [success, setSuccess] = useState("any");
  const [secret, setSecret] = useState("");
  const [principal, setPrincipal] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<CombinedError | null>(null);

  async function resolveSecret(text: string): Promise<string | null | undefined> {
    if (!text) return null;
    if (UUID.test(text)) return text.toLowerCase();
    if (!byName) {
      setProblem("enter the secret's id: finding a secret by name needs a role that may list secrets");
      return undefined;
    }
    const result = await client.query(SecretByNameQuery, { workspaceId: props.workspaceId, name: text }).toPromise();
    if (result.error) {
      setError(result.error);
      return undefined;
    }
    if (!result.data?.secretByName) {
      setProblem(`no secret named ${text} in this workspace`);
      return undefined;
    }
    return result.data.secretByName.id;
  }

  return (
    <form
      className="audit-filters"
      aria-label="Audit filters"
      onSubmit={async (event) => {
        event.preventDefault();
        setProblem(null);
        setError(null);
        const secretId = await resolveSecret(secret.trim());
        if (secretId === undefined) return;
        props.onApply({
          action: action ? (action as AuditAction) : null,
          success: success === "any" ? null : success === "yes",
          secretId,
          userId: principal.trim() || null,
        });
      }}
    >
      <label>
        Action
        <select value={action} onChange={(event) => setAction(event.target.value)}>
          <option value="">any</option>
          {AUDIT_ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
      </label>
      <label>
        Success
        <select value={success} onChange={(event) => setSuccess(event.target.value)}>
          <option value="any">any</option>
          <option value="yes">yes</option>
          <option value="no">no</option>
        </select>
      </label>
      <label>
        {byName ? "Secret (id or name)" : "Secret id"}
        <input value={secret} onChange={(event) => setSecret(event.target.value)} spellCheck={false} autoComplete="off" />
      </label>
      <label>
        Principal id
        <input
          value={principal}
          onChange={(event) => setPrincipal(event.target.value)}
          spellCheck={false}
          autoComplete="off"
        />
      </label>
      <div className="actions">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button
          type="reset"
          onClick={() => {
            setAction("");
            setSuccess("any");
            setSecret("");
            setPrincipal("");
            setProblem(null);
            setError(null);
            props.onApply(NO_FILTERS);
          }}
        >
          Clear filters
        </button>
      </div>
      {problem && (
        <p className="notice notice-error" role="alert">
          {problem}
        </p>
      )}
      {error && <ErrorNotice error={error} what="find the secret by name" />}
    </form>
  );
}
