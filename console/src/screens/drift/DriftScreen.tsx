import { useState } from "react";
import { useQuery } from "urql";
import type { CombinedError } from "urql";
import type { ScreenProps } from "../../App";
import { Loading, Page } from "../../components/Page";
import { ErrorNotice } from "../../components/ErrorNotice";
import { errorCode } from "../../api";
import { graphql } from "../../gql";
import { useSession } from "../../session";
import { routeHref } from "../../router";
import { compareDigests } from "./compare";
import type { Digest, DriftRow } from "./compare";
import "./drift.css";

const DigestsQuery = graphql(`
  query ConsoleDriftDigests($workspaceId: ID!) {
    secretDigests(workspaceId: $workspaceId) {
      secretId
      name
      version
      digest
    }
  }
`);

export function DriftScreen(props: ScreenProps) {
  const { workspaces } = useSession();
  const others = workspaces.filter((w) => w.id !== props.workspaceId);
  const [otherId, setOtherId] = useState("");
  const [filter, setFilter] = useState("");
  return (
    <Page title="Drift">
      <p className="muted">
        Compares the secrets of <strong className="mono">{props.workspaceId}</strong> with another workspace by keyed digests of
        their values: names only, no value is read or shown.
      </p>
      {others.length === 0 ? (
        <p className="notice">There is no other workspace you can see to compare with.</p>
      ) : (
        <div className="actions">
          <label>
            Compare with
            <select value={otherId} onChange={(event) => setOtherId(event.target.value)}>
              <option value="">choose a workspace…</option>
              {others.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name === w.id ? w.id : `${w.name} (${w.id})`}
                </option>
              ))}
            </select>
          </label>
          <label>
            Filter by name
            <input type="search" value={filter} onChange={(event) => setFilter(event.target.value)} />
          </label>
        </div>
      )}
      {otherId && <Comparison key={otherId} hereId={props.workspaceId} thereId={otherId} filter={filter} />}
    </Page>
  );
}

function Comparison(props: { hereId: string; thereId: string; filter: string }) {
  const [here] = useQuery({ query: DigestsQuery, variables: { workspaceId: props.hereId } });
  const [there] = useQuery({ query: DigestsQuery, variables: { workspaceId: props.thereId } });
  if (here.error || there.error) {
    return <SideErrors sides={[[props.hereId, here.error], [props.thereId, there.error]]} />;
  }
  if (!here.data || !there.data) return <Loading what="digests" />;
  const drift = compareDigests(here.data.secretDigests, there.data.secretDigests);
  const needle = props.filter.trim().toLowerCase();
  const shown = (rows: DriftRow[]) => (needle ? rows.filter((row) => row.name.toLowerCase().includes(needle)) : rows);
  return (
    <div className="drift-grid">
      <DriftSection
        title={`Only in ${props.hereId}`}
        slug="only-here"
        rows={shown(drift.onlyHere)}
        total={drift.onlyHere.length}
        hereId={props.hereId}
        thereId={props.thereId}
      />
      <DriftSection
        title={`Only in ${props.thereId}`}
        slug="only-there"
        rows={shown(drift.onlyThere)}
        total={drift.onlyThere.length}
        hereId={props.hereId}
        thereId={props.thereId}
      />
      <DriftSection
        title="Different values"
        slug="different"
        rows={shown(drift.different)}
        total={drift.different.length}
        hereId={props.hereId}
        thereId={props.thereId}
      />
      <DriftSection
        title="Same values"
        slug="same"
        rows={shown(drift.same)}
        total={drift.same.length}
        hereId={props.hereId}
        thereId={props.thereId}
      />
    </div>
  );
}

/**
 * Which side could not be compared. A FORBIDDEN side is named as such (the
 * comparison needs READER on both); the first failure gets the shared
 * notice, a second one a line of its own so the page has one alert heading.
 */
function SideErrors(props: { sides: [string, CombinedError | undefined][] }) {
  const failed = props.sides.filter((side): side is [string, CombinedError] => side[1] !== undefined);
  return (
    <div className="drift-errors">
      {failed.map(([workspaceId, error], index) =>
        index === 0 ? (
          <ErrorNotice key={workspaceId} error={error} what={`comparing the values of ${workspaceId}`} />
        ) : (
          <p key={workspaceId} className="notice notice-error">
            {errorCode(error) === "FORBIDDEN"
              ? `Your roles do not allow comparing the values of ${workspaceId} either.`
              : `${workspaceId} could not be compared either (${errorCode(error)}).`}
          </p>
        ),
      )}
      <p className="muted">Drift needs a READER role (or more) in both workspaces.</p>
    </div>
  );
}

function DriftSection(props: {
  title: string;
  slug: string;
  rows: DriftRow[];
  total: number;
  hereId: string;
  thereId: string;
}) {
  const headingId = `drift-${props.slug}`;
  const count = props.rows.length === props.total ? `${props.total}` : `${props.rows.length} of ${props.total}`;
  return (
    <section className={`drift-section drift-${props.slug}`} aria-labelledby={headingId}>
      <h2 id={headingId}>
        {props.title} <span className="badge">{count}</span>
      </h2>
      {props.rows.length === 0 ? (
        <p className="muted">none</p>
      ) : (
        <ul>
          {props.rows.map((row) => (
            <li key={row.name}>
              <span className="mono name">{row.name}</span>
              {row.here && <SecretLink workspaceId={props.hereId} digest={row.here} />}
              {row.there && <SecretLink workspaceId={props.thereId} digest={row.there} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function SecretLink(props: { workspaceId: string; digest: Digest }) {
  return (
    <a
      className="drift-link"
      href={routeHref({ workspaceId: props.workspaceId, screen: "secret", id: props.digest.secretId })}
    >
      <span className="visually-hidden">{props.digest.name} in </span>
      {props.workspaceId} v{props.digest.version}
    </a>
  );
}
