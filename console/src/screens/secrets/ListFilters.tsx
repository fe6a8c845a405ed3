import { useEffect, useState } from "react";
import type { ListFilter } from "./listFilter";
import { useDebounced } from "./listFilter";
import { SECRET_TYPES, SECRET_TYPE_LABELS, isSecretType } from "./listChoices";

/** Typing pauses this long before the list is asked for again. */
const TYPING_PAUSE_MS = 300;

/**
 * The list's search and filters. Text fields apply once typing pauses, the
 * type and "include deleted" at once; every change sends the list back to
 * its first page (the parent's reducer does that).
 */
export function ListFilters(props: { filter: ListFilter; onChange: (change: Partial<ListFilter>) => void }) {
  const { onChange } = props;
  const [nameText, setNameText] = useState(props.filter.nameContains);
  const [tagText, setTagText] = useState(props.filter.tag);
  const settledName = useDebounced(nameText.trim(), TYPING_PAUSE_MS);
  const settledTag = useDebounced(tagText.trim(), TYPING_PAUSE_MS);
  useEffect(() => onChange({ nameContains: settledName }), [settledName, onChange]);
  useEffect(() => onChange({ tag: settledTag }), [settledTag, onChange]);
  return (
    <form className="list-filters" role="search" aria-label="Filter secrets" onSubmit={(event) => event.preventDefault()}>
      <label>
        Search by name
        <input
          type="search"
          name="nameContains"
          value={nameText}
          onChange={(event) => setNameText(event.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <div className="list-field">
        <label htmlFor="list-filter-type">Type</label>
        <select
          id="list-filter-type"
          name="secretType"
          value={props.filter.secretType ?? ""}
          onChange={(event) => {
            const chosen = event.target.value;
            onChange({ secretType: isSecretType(chosen) ? chosen : null });
          }}
        >
          <option value="">any type</option>
          {SECRET_TYPES.map((type) => (
            <option key={type} value={type}>
              {SECRET_TYPE_LABELS[type]}
            </option>
          ))}
        </select>
      </div>
      <label>
        Tag
        <input
          type="text"
          name="tag"
          value={tagText}
          onChange={(event) => setTagText(event.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
      </label>
      <label className="list-checkbox">
        <input
          type="checkbox"
          name="includeInactive"
          checked={props.filter.includeInactive}
          onChange={(event) => onChange({ includeInactive: event.target.checked })}
        />
        Include deleted
      </label>
    </form>
  );
}
