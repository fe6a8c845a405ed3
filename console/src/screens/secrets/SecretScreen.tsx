import { useEffect, useRef, useState } from "react";
import { useClient, useMutation, useQuery } from "urql";
import type { CombinedError } from "urql";
import type { ScreenProps } from "../../App";
import { CopyButton } from "../../components/CopyButton";
import { Dialog, TypedConfirm } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading, Page } from "../../components/Page";
import { RotationBadge, Time } from "../../components/Time";
import { graphql } from "../../gql";
import type { RotationPolicy } from "../../gql/graphql";
import { may } from "../../permissions";
import { navigate } from "../../router";
import { useSession } from "../../session";
import { useValueMutation } from "../../valueMutation";
import { ROTATION_POLICIES, ROTATION_POLICY_LABELS, SECRET_TYPE_LABELS } from "./listChoices";
import "./detail.css";

/** How long a revealed value stays on screen before it is masked again. */
export const REVEAL_SECONDS = 30;

const SecretQuery = graphql(`
  query ConsoleSecret($workspaceId: ID!, $id: ID!) {
    secret(workspaceId: $workspaceId, id: $id) {
      id
      name
      secretType
      usage
      tags
      metadata
      rotationPolicy
      rotationDueAt
      lastRotatedAt
      isActive
      currentVersion
      pendingVersion
      encryptionBackend
      createdAt
      updatedAt
      createdByUserId
      updatedByUserId
      lastAccessedAt
      versions {
        version
        createdAt
        createdByUserId
        encryptionBackend
        keyId
        state
        destroyed
      }
    }
  }
`);

const ValueQuery = graphql(`
  query ConsoleSecretValue($workspaceId: ID!, $id: ID!, $version: Int) {
    secretValue(workspaceId: $workspaceId, id: $id, version: $version) {
      version
      value
    }
  }
`);

const CompareVersions = graphql(`
  query ConsoleCompareVersions($workspaceId: ID!, $id: ID!, $a: Int!, $b: Int!) {
    compareSecretVersions(workspaceId: $workspaceId, id: $id, a: $a, b: $b) {
      a
      b
      same
    }
  }
`);

const UpdateSecret = graphql(`
  mutation ConsoleUpdateSecret($workspaceId: ID!, $id: ID!, $input: UpdateSecretInput!) {
    updateSecret(workspaceId: $workspaceId, id: $id, input: $input) {
      id
      currentVersion
    }
  }
`);

const RotateSecret = graphql(`
  mutation ConsoleRotateSecret($workspaceId: ID!, $id: ID!, $expectedVersion: Int) {
    rotateSecret(workspaceId: $workspaceId, id: $id, expectedVersion: $expectedVersion) {
      id
      currentVersion
    }
  }
`);

const RollbackSecret = graphql(`
  mutation ConsoleRollbackSecret($workspaceId: ID!, $id: ID!, $toVersion: Int!) {
    rollbackSecret(workspaceId: $workspaceId, id: $id, toVersion: $toVersion) {
      id
      currentVersion
    }
  }
`);

const DeleteSecret = graphql(`
  mutation ConsoleDeleteSecret($workspaceId: ID!, $id: ID!) {
    deleteSecret(workspaceId: $workspaceId, id: $id) {
      id
      isActive
    }
  }
`);

const RestoreSecret = graphql(`
  mutation ConsoleRestoreSecret($workspaceId: ID!, $id: ID!) {
    restoreSecret(workspaceId: $workspaceId, id: $id) {
      id
      isActive
    }
  }
`);

const DestroySecret = graphql(`
  mutation ConsoleDestroySecret($workspaceId: ID!, $id: ID!) {
    destroySecret(workspaceId: $workspaceId, id: $id)
  }
`);

type Failure = { error: CombinedError; what: string } | null;

/**
 * One secret: its metadata and versions, never its value, unless the user
 * asks (Reveal or Copy: one audited secretValue read each).
 */
export function SecretScreen(props: ScreenProps) {
  const { viewer } = useSession();
  const id = props.id ?? "";
  const [secret, refetch] = useQuery({ query: SecretQuery, variables: { workspaceId: props.workspaceId, id } });
  const [failure, setFailure] = useState<Failure>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });
  if (secret.error) return <ErrorNotice error={secret.error} what="open this secret" />;
  if (!secret.data) return <Loading what="the secret" />;
  const found = secret.data.secret;
  if (!found) {
    return (
      <Page title="Secret not found">
        <p>No secret with this id in {props.workspaceId}.</p>
      </Page>
    );
  }
  const canRead = may(viewer, props.workspaceId, "read");
  const canWrite = may(viewer, props.workspaceId, "write");
  const canDestroy = may(viewer, props.workspaceId, "destroy");
  const done = (what: string) => (result: { error?: CombinedError | undefined }) => {
    setFailure(result.error ? { error: result.error, what } : null);
    if (!result.error) reload();
  };
  return (
    <Page
      title={found.name}
      actions={
        <>
          <span className={found.isActive ? "badge badge-ok" : "badge badge-bad"}>
            {found.isActive ? "active" : "deleted"}
          </span>
          <RotationBadge dueAt={found.isActive ? found.rotationDueAt : null} />
        </>
      }
    >
      {failure && <ErrorNotice error={failure.error} what={failure.what} />}
      <dl className="secret-facts">
        <dt>Type</dt>
        <dd>{SECRET_TYPE_LABELS[found.secretType]}</dd>
        <dt>Usage</dt>
        <dd>{found.usage ?? <span className="muted">none</span>}</dd>
        <dt>Tags</dt>
        <dd>
          {found.tags.length ? (
            found.tags.map((tag) => (
              <span key={tag} className="badge">
                {tag}
              </span>
            ))
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        <dt>Metadata</dt>
        <dd className="mono">{JSON.stringify(found.metadata)}</dd>
        <dt>Rotation</dt>
        <dd>
          {ROTATION_POLICY_LABELS[found.rotationPolicy]}; due <Time value={found.rotationDueAt} empty="never" />, last
          rotated <Time value={found.lastRotatedAt} />
        </dd>
        <dt>Version</dt>
        <dd>
          {found.currentVersion}
          {found.pendingVersion !== null && found.pendingVersion !== undefined && ` (pending ${found.pendingVersion})`}
          {" · "}backend <span className="mono">{found.encryptionBackend}</span>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time value={found.createdAt} /> by <span className="mono">{found.createdByUserId ?? "unknown"}</span>
        </dd>
        <dt>Updated</dt>
        <dd>
          <Time value={found.updatedAt} /> by <span className="mono">{found.updatedByUserId ?? "unknown"}</span>
        </dd>
        <dt>Last accessed</dt>
        <dd>
          <Time value={found.lastAccessedAt} />
        </dd>
      </dl>
      {canRead && found.isActive && <Reveal workspaceId={props.workspaceId} secretId={found.id} name={found.name} />}
      {canWrite && (
        <SecretActions
          workspaceId={props.workspaceId}
          secret={found}
          canDestroy={canDestroy}
          onDone={done}
          onDestroyed={() => navigate({ workspaceId: props.workspaceId, screen: "secrets", id: null })}
        />
      )}
      <Versions
        workspaceId={props.workspaceId}
        secretId={found.id}
        name={found.name}
        current={found.currentVersion}
        versions={found.versions}
        canRead={canRead && found.isActive}
        canWrite={canWrite && found.isActive}
        onDone={done}
      />
    </Page>
  );
}

/** Reads one version's value through the client (never kept in urql's state). */
function useValueReader(workspaceId: string, secretId: string) {
  const client = useClient();
  return async (version: number | null): Promise<{ value: string | null; error: CombinedError | null }> => {
    const result = await client
      .query(ValueQuery, { workspaceId, id: secretId, version }, { requestPolicy: "network-only" })
      .toPromise();
    return { value: result.data?.secretValue.value ?? null, error: result.error ?? null };
  };
}

function Reveal(props: { workspaceId: string; secretId: string; name: string; version?: number }) {
  const read = useValueReader(props.workspaceId, props.secretId);
  const [shown, setShown] = useState<{ value: string; left: number } | null>(null);
  const [error, setError] = useState<CombinedError | null>(null);
  const timer = useRef<number | null>(null);
  const hide = () => {
    if (timer.current !== null) window.clearInterval(timer.current);
    timer.current = null;
    setShown(null);
  };
  // The value leaves the page's state when the component goes away.
  useEffect(() => hide, []);
  const version = props.version ?? null;
  const label = version === null ? "" : ` of version ${version}`;
  return (
    <section className="reveal" aria-label={`Value${label}`}>
      {shown ? (
        <>
          <output className="value" aria-label={`Value of ${props.name}${label}`}>
            {shown.value}
          </output>
          <span className="muted" role="timer">
            masked again in {shown.left} s
          </span>
          <button type="button" onClick={hide}>
            Hide
          </button>
        </>
      ) : (
        <button
          type="button"
          onClick={async () => {
            const answer = await read(version);
            setError(answer.error);
            if (answer.value === null) return;
            setShown({ value: answer.value, left: REVEAL_SECONDS });
            timer.current = window.setInterval(() => {
              setShown((now) => {
                if (!now || now.left <= 1) {
                  if (timer.current !== null) window.clearInterval(timer.current);
                  timer.current = null;
                  return null;
                }
                return { ...now, left: now.left - 1 };
              });
            }, 1000);
          }}
        >
          Reveal value{label}
        </button>
      )}
      <CopyButton
        label={`Copy value${label} of ${props.name}`}
        text={async () => {
          const answer = await read(version);
          setError(answer.error);
          return answer.value;
        }}
      />
      {error && <ErrorNotice error={error} what="read the value" />}
    </section>
  );
}

interface SecretFacts {
  id: string;
  name: string;
  isActive: boolean;
  currentVersion: number;
  usage?: string | null;
  tags: string[];
  metadata: unknown;
  rotationPolicy: RotationPolicy;
}

type Done = (what: string) => (result: { error?: CombinedError | undefined }) => void;

function SecretActions(props: {
  workspaceId: string;
  secret: SecretFacts;
  canDestroy: boolean;
  onDone: Done;
  onDestroyed: () => void;
}) {
  const [, update] = useValueMutation(UpdateSecret);
  const [, rotate] = useMutation(RotateSecret);
  const [, remove] = useMutation(DeleteSecret);
  const [, restore] = useMutation(RestoreSecret);
  const [destroying, destroy] = useMutation(DestroySecret);
  const [dialog, setDialog] = useState<"edit" | "value" | "destroy" | null>(null);
  const close = () => setDialog(null);
  const ids = { workspaceId: props.workspaceId, id: props.secret.id };
  const secret = props.secret;
  return (
    <section className="secret-actions" aria-label="Actions">
      <div className="actions">
        {secret.isActive && (
          <>
            <button type="button" onClick={() => setDialog("edit")}>
              Edit metadata
            </button>
            <button type="button" onClick={() => setDialog("value")}>
              New value
            </button>
            <button
              type="button"
              onClick={async () =>
                props.onDone("rotate the secret")(await rotate({ ...ids, expectedVersion: secret.currentVersion }))
              }
            >
              Rotate
            </button>
            <button type="button" onClick={async () => props.onDone("delete the secret")(await remove(ids))}>
              Delete
            </button>
          </>
        )}
        {!secret.isActive && (
          <button type="button" onClick={async () => props.onDone("restore the secret")(await restore(ids))}>
            Restore
          </button>
        )}
        {props.canDestroy && (
          <button type="button" className="danger" onClick={() => setDialog("destroy")}>
            Destroy…
          </button>
        )}
      </div>
      <Dialog title="Edit metadata" open={dialog === "edit"} onClose={close}>
        <EditMetadata
          secret={secret}
          onCancel={close}
          onSave={async (input) => {
            const result = await update({ ...ids, input });
            props.onDone("save the metadata")(result);
            if (!result.error) close();
          }}
        />
      </Dialog>
      <Dialog title="New value" open={dialog === "value"} onClose={close}>
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            const field = event.currentTarget.elements.namedItem("new-value") as HTMLInputElement;
            const value = field.value;
            field.value = "";
            const result = await update({ ...ids, input: { value, expectedVersion: secret.currentVersion } });
            props.onDone("store the new value")(result);
            if (!result.error) close();
          }}
        >
          <label>
            New value
            <input name="new-value" type="password" autoComplete="off" spellCheck={false} required />
          </label>
          <div className="actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary">
              Store as version {secret.currentVersion + 1}
            </button>
          </div>
        </form>
      </Dialog>
      <Dialog title={`Destroy ${secret.name}`} open={dialog === "destroy"} onClose={close}>
        <TypedConfirm
          expected={secret.name}
          action="Destroy"
          busy={destroying.fetching}
          onCancel={close}
          onConfirm={async () => {
            const result = await destroy(ids);
            if (result.error) props.onDone("destroy the secret")(result);
            else props.onDestroyed();
          }}
        />
      </Dialog>
    </section>
  );
}

function EditMetadata(props: {
  secret: SecretFacts;
  onSave: (input: { usage: string; tags: string[]; metadata: unknown; rotationPolicy: RotationPolicy }) => void;
  onCancel: () => void;
}) {
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        const form = event.currentTarget.elements;
        const text = (name: string) => (form.namedItem(name) as HTMLInputElement | HTMLTextAreaElement).value;
        let metadata: unknown;
        try {
          metadata = JSON.parse(text("metadata") || "{}");
        } catch {
          setProblem("Metadata is not valid JSON.");
          return;
        }
        if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
          setProblem("Metadata must be a JSON object.");
          return;
        }
        setProblem(null);
        props.onSave({
          usage: text("usage"),
          tags: text("tags")
            .split(",")
            .map((tag) => tag.trim())
            .filter(Boolean),
          metadata,
          rotationPolicy: text("rotation") as RotationPolicy,
        });
      }}
    >
      <label>
        Usage
        <input name="usage" defaultValue={props.secret.usage ?? ""} />
      </label>
      <label>
        Tags (comma separated)
        <input name="tags" defaultValue={props.secret.tags.join(", ")} />
      </label>
      <label>
        Rotation policy
        <select name="rotation" defaultValue={props.secret.rotationPolicy}>
          {ROTATION_POLICIES.map((policy) => (
            <option key={policy} value={policy}>
              {ROTATION_POLICY_LABELS[policy]}
            </option>
          ))}
        </select>
      </label>
      <label className="wide">
        Metadata (JSON object)
        <textarea name="metadata" defaultValue={JSON.stringify(props.secret.metadata, null, 2)} />
      </label>
      {problem && (
        <p className="notice notice-error" role="alert">
          {problem}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary">
          Save
        </button>
      </div>
    </form>
  );
}

function Versions(props: {
  workspaceId: string;
  secretId: string;
  name: string;
  current: number;
  versions: readonly {
    version: number;
    createdAt: string;
    createdByUserId?: string | null;
    encryptionBackend: string;
    keyId: string;
    state: string;
    destroyed: boolean;
  }[];
  canRead: boolean;
  canWrite: boolean;
  onDone: Done;
}) {
  const [, rollback] = useMutation(RollbackSecret);
  const [revealing, setRevealing] = useState<number | null>(null);
  const newestFirst = [...props.versions].sort((a, b) => b.version - a.version);
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <table aria-labelledby="versions-title">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">By</th>
            <th scope="col">Backend</th>
            <th scope="col">Key id</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((v) => (
            <tr key={v.version}>
              <td>
                {v.version}
                {v.version === props.current && <span className="badge badge-ok">current</span>}
              </td>
              <td>{v.destroyed ? "destroyed" : v.state.toLowerCase()}</td>
              <td>
                <Time value={v.createdAt} />
              </td>
              <td className="mono">{v.createdByUserId ?? "unknown"}</td>
              <td className="mono">{v.encryptionBackend}</td>
              <td className="mono key-id">{v.keyId}</td>
              <td>
                <div className="actions">
                  {props.canRead && !v.destroyed && revealing !== v.version && (
                    <button
                      type="button"
                      aria-label={`Value of version ${v.version}…`}
                      onClick={() => setRevealing(v.version)}
                    >
                      Value…
                    </button>
                  )}
                  {props.canWrite && !v.destroyed && v.version !== props.current && v.state === "ACTIVE" && (
                    <button
                      type="button"
                      aria-label={`Roll back to version ${v.version}`}
                      onClick={async () =>
                        props.onDone("roll back")(
                          await rollback({ workspaceId: props.workspaceId, id: props.secretId, toVersion: v.version }),
                        )
                      }
                    >
                      Roll back
                    </button>
                  )}
                </div>
                {revealing === v.version && (
                  <Reveal workspaceId={props.workspaceId} secretId={props.secretId} name={props.name} version={v.version} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.canRead && <CompareForm workspaceId={props.workspaceId} secretId={props.secretId} versions={newestFirst} />}
    </section>
  );
}

/** Two versions compared by the server: "same" or "different", never either value. */
function CompareForm(props: {
  workspaceId: string;
  secretId: string;
  versions: readonly { version: number; destroyed: boolean }[];
}) {
  const client = useClient();
  const usable = props.versions.filter((v) => !v.destroyed).map((v) => v.version);
  const [a, setA] = useState(usable[1] ?? usable[0] ?? 1);
  const [b, setB] = useState(usable[0] ?? 1);
  const [answer, setAnswer] = useState<{ a: number; b: number; same: boolean } | null>(null);
  const [error, setError] = useState<CombinedError | null>(null);
  if (usable.length < 2) return null;
  const choose = (label: string, value: number, set: (n: number) => void) => (
    <label>
      {label}
      <select
        value={value}
        onChange={(event) => {
          set(Number(event.target.value));
          setAnswer(null);
        }}
      >
        {usable.map((n) => (
          <option key={n} value={n}>
            version {n}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <form
      className="compare"
      aria-labelledby="compare-title"
      onSubmit={async (event) => {
        event.preventDefault();
        const result = await client
          .query(CompareVersions, { workspaceId: props.workspaceId, id: props.secretId, a, b }, { requestPolicy: "network-only" })
          .toPromise();
        setError(result.error ?? null);
        setAnswer(result.data?.compareSecretVersions ?? null);
      }}
    >
      <h3 id="compare-title">Compare two versions</h3>
      {choose("First version", a, setA)}
      {choose("Second version", b, setB)}
      <button type="submit">Compare</button>
      <p role="status" className="compare-result">
        {answer &&
          (answer.same
            ? `Versions ${answer.a} and ${answer.b} hold the same value.`
            : `Versions ${answer.a} and ${answer.b} hold different values.`)}
      </p>
      {error && <ErrorNotice error={error} what="compare the versions" />}
    </form>
  );
}
