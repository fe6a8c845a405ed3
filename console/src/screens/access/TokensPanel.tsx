import { useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import type { CombinedError } from "urql";
import { CopyButton } from "../../components/CopyButton";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading } from "../../components/Page";
import { Time } from "../../components/Time";
import type { PrincipalRow } from "./AccessScreen";
import { CreateTokenMutation, RevokeTokenMutation, TokensQuery } from "./operations";

interface TokenRow {
  id: string;
  name: string;
  prefix: string;
}

/** A token just created: its value lives here until the dialog closes, and nowhere else. */
interface CreatedToken {
  name: string;
  token: string;
}

/** One principal's API tokens: list (never their values), create, revoke. */
export function TokensPanel(props: { principal: PrincipalRow }) {
  // The client caches nothing: after a create or a revoke the list is read again.
  const [tokens, readTokens] = useQuery({ query: TokensQuery, variables: { principalId: props.principal.id } });
  const reread = () => readTokens({ requestPolicy: "network-only" });
  const [revoking, setRevoking] = useState<TokenRow | null>(null);
  const [revokeState, revoke] = useMutation(RevokeTokenMutation);
  const rows = tokens.data?.apiTokens ?? [];
  return (
    <section className="access-section" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens of {props.principal.name}</h2>
      <CreateToken principalId={props.principal.id} onCreated={reread} />
      {tokens.error && <ErrorNotice error={tokens.error} what="list the tokens" />}
      {revokeState.error && !revoking && <ErrorNotice error={revokeState.error} what="revoke the token" />}
      {tokens.fetching && !tokens.data && <Loading what="tokens" />}
      {tokens.data && rows.length === 0 && <p className="muted">This principal has no token.</p>}
      {rows.length > 0 && (
        <table aria-labelledby="tokens-title">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((token) => (
              <tr key={token.id}>
                <td className="name">{token.name}</td>
                <td className="mono">{token.prefix}…</td>
                <td>
                  <Time value={token.createdAt} />
                </td>
                <td>
                  <Time value={token.expiresAt} empty="never" />
                </td>
                <td>
                  <Time value={token.lastUsedAt} empty="never" />
                </td>
                <td>
                  {token.revoked ? (
                    <span className="badge badge-bad">revoked</span>
                  ) : (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke token ${token.name} (${token.prefix})`}
                      onClick={() => setRevoking(token)}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Dialog title="Revoke token" open={revoking !== null} onClose={() => setRevoking(null)}>
        {revoking && (
          <>
            <p>
              Revoke <strong>{revoking.name}</strong> (<span className="mono">{revoking.prefix}…</span>)? Every request
              with it is refused from now on, and so are the tokens it created. This cannot be undone.
            </p>
            {revokeState.error && <ErrorNotice error={revokeState.error} what="revoke the token" />}
            <div className="actions">
              <button type="button" onClick={() => setRevoking(null)}>
                Cancel
              </button>
              <button
                type="button"
                className="danger"
                disabled={revokeState.fetching}
                onClick={async () => {
                  const result = await revoke({ id: revoking.id });
                  if (!result.error) {
                    setRevoking(null);
                    reread();
                  }
                }}
              >
                Revoke token
              </button>
            </div>
          </>
        )}
      </Dialog>
    </section>
  );
}

function CreateToken(props: { principalId: string; onCreated: () => void }) {
  // The client directly, not useMutation: a hook would keep the answer (and
  // so the token) in its state after the dialog closed.
  const client = useClient();
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CombinedError | null>(null);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  return (
    <>
      <form
        className="access-form"
        aria-label="Create a token"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          const result = await client
            .mutation(CreateTokenMutation, {
              principalId: props.principalId,
              name: name.trim(),
              // The end of the chosen day, in the user's time zone.
              expiresAt: expiry ? new Date(`${expiry}T23:59:59`).toISOString() : null,
            })
            .toPromise();
          setBusy(false);
          setError(result.error ?? null);
          if (result.data) {
            setCreated({ name: result.data.createApiToken.apiToken.name, token: result.data.createApiToken.token });
            props.onCreated();
            setName("");
            setExpiry("");
          }
        }}
      >
        <label>
          Token name
          <input
            name="token-name"
            value={name}
            onChange={(event) => setName(event.target.value)}
            required
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <label>
          Expires (optional)
          <input type="date" name="token-expiry" value={expiry} onChange={(event) => setExpiry(event.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          Create token
        </button>
      </form>
      {error && <ErrorNotice error={error} what="create the token" />}
      <Dialog title="Token created" open={created !== null} onClose={() => setCreated(null)}>
        {created && (
          <>
            <p>
              The token <strong>{created.name}</strong>:
            </p>
            <code className="value created-token">
              {created.token}
            </code>
            <p className="once-note">
              Copy it now: it will not be shown again. The server keeps only its hash.
            </p>
            <div className="actions">
              <CopyButton text={created.token} label="Copy the token" />
              <button type="button" onClick={() => setCreated(null)}>
                Close
              </button>
            </div>
          </>
        )}
      </Dialog>
    </>
  );
}
