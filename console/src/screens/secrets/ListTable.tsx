import type { ConsoleSecretsPageQuery } from "../../gql/graphql";
import { routeHref } from "../../router";
import { RotationBadge, Time } from "../../components/Time";
import { ROTATION_POLICY_LABELS, SECRET_TYPE_LABELS } from "./listChoices";

export type ListedSecret = ConsoleSecretsPageQuery["secrets"]["edges"][number]["node"];

/** Longer metadata is cut here: the secret's own page shows all of it. */
const METADATA_SHOWN_CHARACTERS = 120;

/**
 * One page of secrets. Every name, tag, usage and metadata is a React text
 * node (escaped by React), and the only href is one the router builds from
 * the secret's id.
 */
export function ListTable(props: {
  workspaceId: string;
  secrets: readonly ListedSecret[];
  caption: string;
  busy: boolean;
}) {
  return (
    <table className="list-table" aria-busy={props.busy}>
      <caption className="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Type</th>
          <th scope="col">Tags</th>
          <th scope="col">Encryption backend</th>
          <th scope="col">Rotation</th>
          <th scope="col">Last accessed</th>
          <th scope="col">State</th>
        </tr>
      </thead>
      <tbody>
        {props.secrets.map((secret) => (
          <tr key={secret.id} className={secret.isActive ? undefined : "list-row-deleted"}>
            <td className="name">
              <a className="mono" href={routeHref({ workspaceId: props.workspaceId, screen: "secret", id: secret.id })}>
                {secret.name}
              </a>
              {secret.usage && <div className="list-usage">{secret.usage}</div>}
              <MetadataSummary metadata={secret.metadata} />
            </td>
            <td>{SECRET_TYPE_LABELS[secret.secretType]}</td>
            <td>
              {secret.tags.length > 0 && (
                <ul className="list-tags" aria-label={`tags of ${secret.name}`}>
                  {secret.tags.map((tag) => (
                    <li key={tag} className="badge">
                      {tag}
                    </li>
                  ))}
                </ul>
              )}
            </td>
            <td className="mono">{secret.encryptionBackend}</td>
            <td>
              {ROTATION_POLICY_LABELS[secret.rotationPolicy]}
              {secret.isActive && (
                <>
                  {" "}
                  <RotationBadge dueAt={secret.rotationDueAt} />
                </>
              )}
            </td>
            <td>
              <Time value={secret.lastAccessedAt} />
            </td>
            <td>
              {secret.isActive ? (
                <span className="badge badge-ok">active</span>
              ) : (
                <span className="badge badge-bad">deleted</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function MetadataSummary(props: { metadata: unknown }) {
  const { metadata } = props;
  if (metadata === null || typeof metadata !== "object" || Object.keys(metadata).length === 0) return null;
  const text = JSON.stringify(metadata);
  const shown = text.length > METADATA_SHOWN_CHARACTERS ? `${text.slice(0, METADATA_SHOWN_CHARACTERS)}…` : text;
  return (
    <div className="list-metadata">
      <span className="visually-hidden">metadata: </span>
      <code>{shown}</code>
    </div>
  );
}
