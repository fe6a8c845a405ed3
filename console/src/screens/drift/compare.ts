// Drift between two workspaces, from keyed digests only: equal values give
// equal digests on this server, so names and digests say everything and no
// value is ever read.

export interface Digest {
  secretId: string;
  name: string;
  version: number;
  digest: string;
}

export interface DriftRow {
  name: string;
  here: Digest | null;
  there: Digest | null;
}

export interface Drift {
  onlyHere: DriftRow[];
  onlyThere: DriftRow[];
  different: DriftRow[];
  same: DriftRow[];
}

export function compareDigests(here: readonly Digest[], there: readonly Digest[]): Drift {
  const thereByName = new Map(there.map((d) => [d.name, d]));
  const hereNames = new Set(here.map((d) => d.name));
  const drift: Drift = { onlyHere: [], onlyThere: [], different: [], same: [] };
  for (const mine of here) {
    const theirs = thereByName.get(mine.name) ?? null;
    const row = { name: mine.name, here: mine, there: theirs };
    if (!theirs) drift.onlyHere.push(row);
    else if (theirs.digest === mine.digest) drift.same.push(row);
    else drift.different.push(row);
  }
  for (const theirs of there) {
    if (!hereNames.has(theirs.name)) drift.onlyThere.push({ name: theirs.name, here: null, there: theirs });
  }
  for (const rows of Object.values(drift) as DriftRow[][]) rows.sort((a, b) => a.name.localeCompare(b.name));
  return drift;
}
