// What the list is narrowed by, and where in the narrowed list the user is.
// Both live in one reducer so that changing a filter and going back to the
// first page are a single state change: a page of the old filter's cursors
// is never asked for with the new filter.
import { useEffect, useState } from "react";
import type { SecretFilter, SecretType } from "../../gql/graphql";

export interface ListFilter {
  nameContains: string;
  tag: string;
  secretType: SecretType | null;
  includeInactive: boolean;
}

export const NO_FILTER: ListFilter = { nameContains: "", tag: "", secretType: null, includeInactive: false };

export interface ListPosition {
  filter: ListFilter;
  /** The `after` cursor of every page up to the current one (null: the first). */
  cursors: readonly (string | null)[];
}

export type ListMove =
  | { type: "filter"; change: Partial<ListFilter> }
  | { type: "next"; after: string }
  | { type: "previous" };

export function moveInList(position: ListPosition, move: ListMove): ListPosition {
  switch (move.type) {
    case "filter": {
      const filter = { ...position.filter, ...move.change };
      const same = (Object.keys(filter) as (keyof ListFilter)[]).every((key) => filter[key] === position.filter[key]);
      return same ? position : { filter, cursors: [null] };
    }
    case "next":
      return { ...position, cursors: [...position.cursors, move.after] };
    case "previous":
      return position.cursors.length > 1 ? { ...position, cursors: position.cursors.slice(0, -1) } : position;
  }
}

export function currentCursor(position: ListPosition): string | null {
  return position.cursors[position.cursors.length - 1] ?? null;
}

export function isFiltered(filter: ListFilter): boolean {
  return filter.nameContains !== "" || filter.tag !== "" || filter.secretType !== null;
}

/** The filter as the `secrets` query takes it (empty text means no condition). */
export function toSecretFilter(filter: ListFilter): SecretFilter {
  return {
    nameContains: filter.nameContains || null,
    tags: filter.tag ? [filter.tag] : null,
    secretType: filter.secretType,
    includeInactive: filter.includeInactive,
  };
}

/** `value` once it has stayed the same for `delayMs` (typing is not a query per key). */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}
