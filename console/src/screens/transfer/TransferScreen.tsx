import { useRef, useState } from "react";
import type { DragEvent } from "react";
import { useClient } from "urql";
import type { CombinedError } from "urql";
import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";
import { ErrorNotice } from "../../components/ErrorNotice";
import { graphql } from "../../gql";
import type { ConsoleImportSecretsMutation, RotationPolicy, SecretType } from "../../gql/graphql";
import { useSession } from "../../session";
import { may } from "../../permissions";
import { routeHref } from "../../router";
import { EXPORT_FORMATS, downloadText, formatExport } from "./exportFormats";
import type { ExportFormat } from "./exportFormats";
import "./transfer.css";
import { useValueMutation } from "../../valueMutation";

const ImportSecretsMutation = graphql(`
  mutation ConsoleImportSecrets(
    $workspaceId: ID!
    $dotenv: String!
    $overwrite: Boolean
    $dryRun: Boolean
    $secretType: SecretType
    $rotationPolicy: RotationPolicy
    $tags: [String!]
  ) {
    importSecrets(
      workspaceId: $workspaceId
      dotenv: $dotenv
      overwrite: $overwrite
      dryRun: $dryRun
      secretType: $secretType
      rotationPolicy: $rotationPolicy
      tags: $tags
    ) {
      created
      updated
      skipped
      unchanged
      plan {
        name
        line
        action
        secretType
        rotationPolicy
      }
      secrets {
        id
        name
      }
    }
  }
`);

const ExportValuesQuery = graphql(`
  query ConsoleExportValues($workspaceId: ID!) {
    secretValues(workspaceId: $workspaceId) {
      name
      value
    }
  }
`);

const SECRET_TYPES: readonly SecretType[] = [
  "API_KEY",
  "DATABASE_CREDENTIAL",
  "OAUTH_TOKEN",
  "SSH_KEY",
  "JWT_SECRET",
  "ENCRYPTION_KEY",
  "PASSWORD",
  "CERTIFICATE",
  "WEBHOOK_SECRET",
  "GENERIC",
];

const ROTATION_POLICIES: readonly RotationPolicy[] = [
  "MANUAL",
  "AUTO_30_DAYS",
  "AUTO_60_DAYS",
  "AUTO_90_DAYS",
  "AUTO_180_DAYS",
  "AUTO_365_DAYS",
];

export function TransferScreen(props: ScreenProps) {
  const { viewer } = useSession();
  const canImport = may(viewer, props.workspaceId, "write");
  const canExport = may(viewer, props.workspaceId, "read");
  return (
    <Page title="Import / export">
      {!canImport && !canExport && (
        <p className="notice">Your roles here allow neither importing (WRITER) nor exporting (READER) secrets.</p>
      )}
      {canImport && <ImportSection workspaceId={props.workspaceId} />}
      {canExport && <ExportSection workspaceId={props.workspaceId} />}
    </Page>
  );
}

interface ImportOptions {
  overwrite: boolean;
  secretType: SecretType | "";
  rotationPolicy: RotationPolicy | "";
  tags: string;
}

type Outcome = { kind: "preview" | "applied"; result: ConsoleImportSecretsMutation["importSecrets"] };

function ImportSection(props: { workspaceId: string }) {
  const [text, setText] = useState("");
  const [options, setOptions] = useState<ImportOptions>({ overwrite: false, secretType: "", rotationPolicy: "", tags: "" });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [fileNote, setFileNote] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [state, importSecrets] = useValueMutation(ImportSecretsMutation);
  const fileInput = useRef<HTMLInputElement>(null);

  // A plan describes exactly the text and options it was made for: any
  // change makes it stale, so it goes.
  const changeText = (next: string) => {
    setText(next);
    setOutcome(null);
  };
  const changeOptions = (next: Partial<ImportOptions>) => {
    setOptions({ ...options, ...next });
    setOutcome(null);
  };

  const readFile = (file: File | undefined) => {
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      changeText(typeof reader.result === "string" ? reader.result : "");
      setFileNote(`Read ${file.name} (${file.size} bytes) into the text box; nothing was sent.`);
    };
    reader.onerror = () => setFileNote(`Could not read ${file.name}.`);
    reader.readAsText(file);
  };

  const run = async (dryRun: boolean) => {
    const tags = options.tags
      .split(",")
      .map((tag) => tag.trim())
      .filter(Boolean);
    const result = await importSecrets({
      workspaceId: props.workspaceId,
      dotenv: text,
      dryRun,
      overwrite: options.overwrite,
      secretType: options.secretType || null,
      rotationPolicy: options.rotationPolicy || null,
      tags: tags.length ? tags : null,
    });
    if (!result.data) return;
    setOutcome({ kind: dryRun ? "preview" : "applied", result: result.data.importSecrets });
    if (!dryRun) {
      // The values were sent and kept by the server: none stays in the page.
      setText("");
      setFileNote(null);
      if (fileInput.current) fileInput.current.value = "";
    }
  };

  const onDrop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    setDragging(false);
    readFile(event.dataTransfer.files[0]);
  };

  return (
    <section className="transfer-section" aria-labelledby="import-title">
      <h2 id="import-title">Import a .env file</h2>
      <p className="muted">
        Paste the file, drop it on the box or choose it. The file is read in this page only; it goes to the server when you
        preview or apply.
      </p>
      <div
        className={dragging ? "drop-zone dragging" : "drop-zone"}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <label className="wide-label">
          .env text
          <textarea
            value={text}
            onChange={(event) => changeText(event.target.value)}
            spellCheck={false}
            autoComplete="off"
            autoCorrect="off"
            autoCapitalize="off"
          />
        </label>
        <label>
          Choose a .env file
          <input
            ref={fileInput}
            type="file"
            accept=".env,text/plain"
            onChange={(event) => readFile(event.target.files?.[0])}
          />
        </label>
      </div>
      {fileNote && (
        <p className="muted" role="status">
          {fileNote}
        </p>
      )}
      <fieldset>
        <legend>Options</legend>
        <label className="inline-check">
          <input
            type="checkbox"
            checked={options.overwrite}
            onChange={(event) => changeOptions({ overwrite: event.target.checked })}
          />
          Overwrite existing secrets (a new version)
        </label>
        <label>
          Type
          <select
            value={options.secretType}
            onChange={(event) => changeOptions({ secretType: event.target.value as SecretType | "" })}
          >
            <option value="">detect from the name</option>
            {SECRET_TYPES.map((type) => (
              <option key={type} value={type}>
                {type}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rotation policy
          <select
            value={options.rotationPolicy}
            onChange={(event) => changeOptions({ rotationPolicy: event.target.value as RotationPolicy | "" })}
          >
            <option value="">server default</option>
            {ROTATION_POLICIES.map((policy) => (
              <option key={policy} value={policy}>
                {policy}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tags (comma separated)
          <input value={options.tags} onChange={(event) => changeOptions({ tags: event.target.value })} />
        </label>
      </fieldset>
      <div className="actions">
        <button type="button" disabled={!text.trim() || state.fetching} onClick={() => void run(true)}>
          Preview
        </button>
        <button type="button" className="primary" disabled={!text.trim() || state.fetching} onClick={() => void run(false)}>
          Apply
        </button>
      </div>
      {state.error && <ErrorNotice error={state.error} what="import secrets" />}
      {outcome && <ImportOutcome workspaceId={props.workspaceId} outcome={outcome} />}
    </section>
  );
}

function ImportOutcome(props: { workspaceId: string; outcome: Outcome }) {
  const { kind, result } = props.outcome;
  const ids = new Map(result.secrets.map((secret) => [secret.name, secret.id]));
  const verb = kind === "preview" ? "would be" : "were";
  return (
    <section className="import-outcome" aria-labelledby="outcome-title">
      <h3 id="outcome-title">{kind === "preview" ? "Plan (dry run: nothing changed)" : "Imported"}</h3>
      <p role="status">
        {result.created} {verb} created, {result.updated} updated, {result.skipped} skipped, {result.unchanged} unchanged.
      </p>
      <table>
        <caption className="visually-hidden">
          {kind === "preview" ? "What the import would do" : "What the import did"}, one row per entry
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Line</th>
            <th scope="col">Action</th>
            <th scope="col">Type</th>
            <th scope="col">Rotation policy</th>
          </tr>
        </thead>
        <tbody>
          {result.plan.map((entry) => {
            const id = kind === "applied" ? ids.get(entry.name) : undefined;
            return (
              <tr key={entry.name}>
                <td className="name mono">
                  {id ? <a href={routeHref({ workspaceId: props.workspaceId, screen: "secret", id })}>{entry.name}</a> : entry.name}
                </td>
                <td>{entry.line}</td>
                <td>
                  <span className={`badge action-${entry.action.toLowerCase()}`}>{entry.action}</span>
                </td>
                <td>{entry.secretType}</td>
                <td>{entry.rotationPolicy}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function ExportSection(props: { workspaceId: string }) {
  const client = useClient();
  const [format, setFormat] = useState<ExportFormat>("dotenv");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CombinedError | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const exportValues = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    const result = await client.query(ExportValuesQuery, { workspaceId: props.workspaceId }).toPromise();
    setBusy(false);
    if (result.error || !result.data) {
      if (result.error) setError(result.error);
      return;
    }
    const chosen = EXPORT_FORMATS[format];
    const fileName = `${props.workspaceId}.${chosen.extension}`;
    downloadText(formatExport(format, result.data.secretValues), fileName, chosen.mime);
    setDone(`Downloaded ${result.data.secretValues.length} secrets as ${fileName}.`);
  };

  return (
    <section className="transfer-section" aria-labelledby="export-title">
      <h2 id="export-title">Export values</h2>
      <p className="muted">
        Downloads the current value of every active secret of this workspace. This is an audited read of every value; the values
        go into the file only and are not shown here.
      </p>
      <div className="actions">
        <label>
          Format
          <select value={format} onChange={(event) => setFormat(event.target.value as ExportFormat)}>
            {(Object.keys(EXPORT_FORMATS) as ExportFormat[]).map((f) => (
              <option key={f} value={f}>
                {EXPORT_FORMATS[f].label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={busy} onClick={() => void exportValues()}>
          Export
        </button>
      </div>
      {error && <ErrorNotice error={error} what="export the values" />}
      {done && (
        <p className="muted" role="status">
          {done}
        </p>
      )}
    </section>
  );
}
