// Recomputes the workspace's keyed chain on request, optionally against a
// kept checkpoint file, and downloads a signed checkpoint to keep. The file
// has the format `strongroom audit checkpoint` writes, so `strongroom audit
// verify --checkpoint FILE` reads it too (and checks its signature).
import { useState } from "react";
import { useClient, useQuery } from "urql";
import type { CombinedError } from "urql";
import { graphql } from "../../gql";
import type { AuditIntegrityCheckQuery } from "../../gql/graphql";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Time } from "../../components/Time";

export const CHECKPOINT_FORMAT = "strongroom-audit-checkpoint/1";

const IntegrityQuery = graphql(`
  query AuditIntegrityCheck($workspaceId: ID!, $checkpoint: AuditCheckpointInput) {
    auditIntegrity(workspaceId: $workspaceId, checkpoint: $checkpoint) {
      valid
      checkedEvents
      headHash
      headSeq
      firstInvalidEventId
      reason
    }
  }
`);

const CheckpointQuery = graphql(`
  query AuditSignedCheckpoint($workspaceId: ID!) {
    auditCheckpoint(workspaceId: $workspaceId) {
      workspaceId
      seq
      headHash
      createdAt
      keyId
      publicKey
      previousSignature
      signature
    }
  }
`);

const CheckpointsQuery = graphql(`
  query AuditCheckpointList($workspaceId: ID!) {
    auditCheckpoints(workspaceId: $workspaceId, first: 10) {
      seq
      headHash
      createdAt
      keyId
    }
  }
`);

type Checked = { integrity: AuditIntegrityCheckQuery["auditIntegrity"]; against: string | null };

/** The seq and head hash of a checkpoint file, or why it is not one. */
function readCheckpoint(text: string, workspaceId: string): { seq: number; headHash: string } | string {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return "the file is not JSON";
  }
  if (typeof document !== "object" || document === null) return "the file is not a checkpoint";
  const fields = document as Record<string, unknown>;
  if (fields.format !== CHECKPOINT_FORMAT) return `the file is not a checkpoint (expected "format": "${CHECKPOINT_FORMAT}")`;
  if (fields.workspaceId !== workspaceId) return `the checkpoint is of another workspace (${String(fields.workspaceId)})`;
  if (typeof fields.seq !== "number" || !Number.isInteger(fields.seq) || typeof fields.headHash !== "string") {
    return "the checkpoint lacks seq or headHash";
  }
  return { seq: fields.seq, headHash: fields.headHash };
}

export function IntegrityPanel(props: { workspaceId: string }) {
  const client = useClient();
  const [checked, setChecked] = useState<Checked | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ error: CombinedError; what: string } | null>(null);
  const [fileProblem, setFileProblem] = useState<string | null>(null);
  const [downloaded, setDownloaded] = useState<string | null>(null);
  const [history, refreshHistory] = useQuery({ query: CheckpointsQuery, variables: { workspaceId: props.workspaceId } });

  async function verify(checkpoint: { seq: number; headHash: string } | null, against: string | null) {
    setBusy(true);
    setError(null);
    const result = await client.query(IntegrityQuery, { workspaceId: props.workspaceId, checkpoint }).toPromise();
    setBusy(false);
    if (result.error) setError({ error: result.error, what: "verify the audit trail" });
    else if (result.data) setChecked({ integrity: result.data.auditIntegrity, against });
  }

  async function download() {
    setError(null);
    const result = await client.query(CheckpointQuery, { workspaceId: props.workspaceId }).toPromise();
    if (result.error || !result.data) {
      if (result.error) setError({ error: result.error, what: "sign a checkpoint" });
      return;
    }
    const checkpoint = result.data.auditCheckpoint;
    const text = JSON.stringify({ format: CHECKPOINT_FORMAT, ...checkpoint }, null, 2) + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `${props.workspaceId}-audit-checkpoint-${checkpoint.seq}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    // After the click has handed the file to the browser's download.
    window.setTimeout(() => URL.revokeObjectURL(url), 0);
    setDownloaded(`checkpoint at seq ${checkpoint.seq} saved as ${link.download}`);
    refreshHistory();
  }

  const integrity = checked?.integrity;
  return (
    <section className="audit-section audit-integrity" aria-labelledby="integrity-title">
      <h2 id="integrity-title">Integrity</h2>
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => verify(null, null)}>
          Verify integrity
        </button>
        <button type="button" onClick={download}>
          Download signed checkpoint
        </button>
        <label>
          Verify against a kept checkpoint file
          <input
            type="file"
            accept="application/json,.json"
            onChange={async (event) => {
              const file = event.target.files?.[0];
              event.target.value = "";
              if (!file) return;
              setFileProblem(null);
              const kept = readCheckpoint(await file.text(), props.workspaceId);
              if (typeof kept === "string") setFileProblem(`${file.name}: ${kept}`);
              else await verify(kept, `${file.name} (seq ${kept.seq})`);
            }}
          />
        </label>
      </div>
      {downloaded && (
        <p className="muted" role="status">
          {downloaded}. Keep it where the server cannot write.
        </p>
      )}
      {fileProblem && (
        <p className="notice notice-error" role="alert">
          {fileProblem}
        </p>
      )}
      {error && <ErrorNotice error={error.error} what={error.what} />}
      {busy && (
        <p className="muted" role="status">
          Recomputing the chain…
        </p>
      )}
      {integrity && (
        <div className={integrity.valid ? "notice" : "notice notice-error"} role="status" aria-label="Integrity result">
          <p>
            {integrity.valid ? (
              <span className="badge badge-ok">valid</span>
            ) : (
              <span className="badge badge-bad">invalid</span>
            )}{" "}
            {checked?.against ? `checked against ${checked.against}` : "the whole kept trail"}
          </p>
          <dl>
            <dt>Events checked</dt>
            <dd data-field="checked-events">{integrity.checkedEvents}</dd>
            <dt>Head seq</dt>
            <dd className="mono">{integrity.headSeq ?? "none"}</dd>
            <dt>Head hash</dt>
            <dd className="mono">{integrity.headHash ?? "none"}</dd>
            {!integrity.valid && (
              <>
                <dt>First invalid event</dt>
                <dd className="mono" data-field="first-invalid">
                  {integrity.firstInvalidEventId ?? "none named"}
                </dd>
              </>
            )}
            {integrity.reason && (
              <>
                <dt>Reason</dt>
                <dd>{integrity.reason}</dd>
              </>
            )}
          </dl>
        </div>
      )}
      <h3>Published checkpoints</h3>
      {history.error && <ErrorNotice error={history.error} what="list the checkpoints" />}
      {history.data && history.data.auditCheckpoints.length === 0 && <p className="muted">None yet.</p>}
      {history.data && history.data.auditCheckpoints.length > 0 && (
        <table className="audit-table">
          <caption className="visually-hidden">Published checkpoints, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Signed</th>
              <th scope="col">Seq</th>
              <th scope="col">Head hash</th>
              <th scope="col">Key</th>
              <th scope="col">Check</th>
            </tr>
          </thead>
          <tbody>
            {history.data.auditCheckpoints.map((checkpoint) => (
              <tr key={`${checkpoint.seq}-${checkpoint.createdAt}`}>
                <td>
                  <Time value={checkpoint.createdAt} />
                </td>
                <td className="mono">{checkpoint.seq}</td>
                <td className="mono">{checkpoint.headHash}</td>
                <td className="mono">{checkpoint.keyId}</td>
                <td>
                  <button
                    type="button"
                    aria-label={`Verify against it: the checkpoint at seq ${checkpoint.seq}`}
                    onClick={() =>
                      verify({ seq: checkpoint.seq, headHash: checkpoint.headHash }, `the published checkpoint at seq ${checkpoint.seq}`)
                    }
                  >
                    Verify against it
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
