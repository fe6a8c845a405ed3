import { useState } from "react";
import { useMutation, useQuery } from "urql";
import type { CombinedError } from "urql";
import type { ScreenProps } from "../../App";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading, Page } from "../../components/Page";
import type { Role } from "../../gql/graphql";
import { may, roleIn } from "../../permissions";
import { useSession } from "../../session";
import { CreatePrincipalMutation, GrantRoleMutation, PrincipalsQuery, RevokeRoleMutation } from "./operations";
import { TokensPanel } from "./TokensPanel";
import "./access.css";

export const ROLES: readonly Role[] = ["VIEWER", "READER", "WRITER", "AUDITOR", "ADMIN"];

export interface PrincipalRow {
  id: string;
  name: string;
  isSuperadmin: boolean;
  bindings: readonly { workspaceId: string; role: Role }[];
}

/**
 * Who may do what in this workspace: principals with their role bindings,
 * granting and revoking a role here, creating a principal, and a principal's
 * API tokens. Only for those who may manage principals here (its ADMIN, a
 * superadmin); the server checks every operation again.
 */
export function AccessScreen(props: ScreenProps) {
  const { viewer } = useSession();
  if (!may(viewer, props.workspaceId, "manage")) {
    return (
      <Page title="Access">
        <section className="notice notice-forbidden" aria-labelledby="access-forbidden-title">
          <h2 id="access-forbidden-title">Not allowed</h2>
          <p>
            Managing principals, roles and tokens in <span className="mono">{props.workspaceId}</span> needs the ADMIN
            role here (or a superadmin). Your role here: {roleIn(viewer, props.workspaceId) ?? "none"}.
          </p>
          <p>Ask an ADMIN of this workspace for the role you need.</p>
        </section>
      </Page>
    );
  }
  return <ManageAccess workspaceId={props.workspaceId} />;
}

function ManageAccess(props: { workspaceId: string }) {
  const session = useSession();
  const [allPrincipals, setAllPrincipals] = useState(false);
  const [tokensOf, setTokensOf] = useState<PrincipalRow | null>(null);
  const showAll = session.viewer.isSuperadmin && allPrincipals;
  const [principals, readPrincipals] = useQuery({
    query: PrincipalsQuery,
    variables: { workspaceId: showAll ? null : props.workspaceId },
  });
  // The client caches nothing: after a change the list is read again. A
  // change to the signed-in principal's own bindings also changes what the
  // shell may show (workspaces, this screen): the session is read again too.
  const changed = async (principalId: string) => {
    readPrincipals({ requestPolicy: "network-only" });
    if (principalId === session.viewer.id) await session.refresh();
  };
  const rows = principals.data?.principals ?? [];
  return (
    <Page title="Access">
      <p className="muted">
        Principals and their roles in <span className="mono">{props.workspaceId}</span>, and their API tokens.
      </p>
      <CreatePrincipal workspaceId={props.workspaceId} onCreated={changed} />
      <section className="access-section" aria-labelledby="principals-title">
        <h2 id="principals-title">Principals</h2>
        {session.viewer.isSuperadmin && (
          <label className="inline">
            <span>
              <input
                type="checkbox"
                checked={allPrincipals}
                onChange={(event) => setAllPrincipals(event.target.checked)}
              />{" "}
              Show all principals (not only those bound to this workspace)
            </span>
          </label>
        )}
        {principals.error && <ErrorNotice error={principals.error} what="list principals" />}
        {principals.fetching && !principals.data && <Loading what="principals" />}
        {principals.data && rows.length === 0 && <p className="muted">No principal is bound to this workspace.</p>}
        {rows.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Roles</th>
                <th scope="col">Role here</th>
                <th scope="col">Tokens</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((principal) => (
                <tr key={principal.id} className={tokensOf?.id === principal.id ? "selected" : undefined}>
                  <td className="name">
                    {principal.name}
                    {principal.isSuperadmin && <span className="badge">superadmin</span>}
                    {principal.id === session.viewer.id && <span className="badge">you</span>}
                    <div className="muted mono">{principal.id}</div>
                  </td>
                  <td>
                    {principal.bindings.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      <ul className="binding-list">
                        {principal.bindings.map((binding) => (
                          <li key={binding.workspaceId}>
                            <span className="mono">{binding.workspaceId}</span>: {binding.role}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>
                    <RoleHere principal={principal} workspaceId={props.workspaceId} onChanged={changed} />
                  </td>
                  <td>
                    <button
                      type="button"
                      aria-label={`Tokens of ${principal.name}`}
                      aria-pressed={tokensOf?.id === principal.id}
                      onClick={() => setTokensOf(tokensOf?.id === principal.id ? null : principal)}
                    >
                      Tokens
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {tokensOf && <TokensPanel key={tokensOf.id} principal={tokensOf} />}
    </Page>
  );
}

/** The principal's role in this workspace: change it (grant) or remove it (revoke). */
function RoleHere(props: { principal: PrincipalRow; workspaceId: string; onChanged: (id: string) => Promise<void> }) {
  const current = props.principal.bindings.find((b) => b.workspaceId === props.workspaceId)?.role ?? null;
  const [role, setRole] = useState<Role>(current ?? "VIEWER");
  const [granting, grant] = useMutation(GrantRoleMutation);
  const [revoking, revoke] = useMutation(RevokeRoleMutation);
  const [error, setError] = useState<{ error: CombinedError; what: string } | null>(null);
  const name = props.principal.name;
  return (
    <div>
      <div className="row-actions">
        <span>{current ?? <span className="muted">none</span>}</span>
        <select aria-label={`Role for ${name}`} value={role} onChange={(event) => setRole(event.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <button
          type="button"
          aria-label={`Grant ${role} to ${name}`}
          disabled={granting.fetching || role === current}
          onClick={async () => {
            const result = await grant({ principalId: props.principal.id, workspaceId: props.workspaceId, role });
            setError(result.error ? { error: result.error, what: "grant the role" } : null);
            if (!result.error) await props.onChanged(props.principal.id);
          }}
        >
          Grant
        </button>
        {current && (
          <button
            type="button"
            aria-label={`Revoke role of ${name}`}
            disabled={revoking.fetching}
            onClick={async () => {
              const result = await revoke({ principalId: props.principal.id, workspaceId: props.workspaceId });
              setError(result.error ? { error: result.error, what: "revoke the role" } : null);
              if (!result.error) await props.onChanged(props.principal.id);
            }}
          >
            Revoke role
          </button>
        )}
      </div>
      {error && <ErrorNotice error={error.error} what={error.what} />}
    </div>
  );
}

function CreatePrincipal(props: { workspaceId: string; onCreated: (id: string) => Promise<void> }) {
  const { viewer } = useSession();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("VIEWER");
  const [superadmin, setSuperadmin] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const [state, create] = useMutation(CreatePrincipalMutation);
  return (
    <section className="access-section" aria-labelledby="create-principal-title">
      <h2 id="create-principal-title">Create a principal</h2>
      <form
        className="access-form"
        onSubmit={async (event) => {
          event.preventDefault();
          const result = await create({
            name: name.trim(),
            bindings: [{ workspaceId: props.workspaceId, role }],
            superadmin: viewer.isSuperadmin && superadmin,
          });
          if (result.data) {
            setCreated(result.data.createPrincipal.name);
            setName("");
            setSuperadmin(false);
            await props.onCreated(result.data.createPrincipal.id);
          } else {
            setCreated(null);
          }
        }}
      >
        <label>
          Name
          <input
            name="principal-name"
            value={name}
            onChange={(event) => setName(event.target.value)}
            required
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <label>
          Role in {props.workspaceId}
          <select name="principal-role" value={role} onChange={(event) => setRole(event.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        {viewer.isSuperadmin && (
          <label className="inline">
            <span>
              <input
                type="checkbox"
                name="principal-superadmin"
                checked={superadmin}
                onChange={(event) => setSuperadmin(event.target.checked)}
              />{" "}
              Superadmin
            </span>
          </label>
        )}
        <button type="submit" className="primary" disabled={state.fetching}>
          Create principal
        </button>
      </form>
      {state.error && <ErrorNotice error={state.error} what="create the principal" />}
      {created && !state.error && (
        <p className="notice" role="status">
          Created principal <strong>{created}</strong>. Open its tokens below to give it one.
        </p>
      )}
    </section>
  );
}
