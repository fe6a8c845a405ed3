// urql's useMutation keeps its last operation, variables included, in React
// state until the next mutation: a typed secret value or a pasted .env would
// stay in the page's memory after its dialog closed. Mutations that carry
// values go through this hook instead: the same call, with only whether it
// is running and its error kept.
import { useCallback, useState } from "react";
import { useClient } from "urql";
import type { AnyVariables, CombinedError, DocumentInput, OperationResult } from "urql";

export function useValueMutation<Data, Variables extends AnyVariables>(
  document: DocumentInput<Data, Variables>,
): [{ fetching: boolean; error: CombinedError | null }, (variables: Variables) => Promise<OperationResult<Data, Variables>>] {
  const client = useClient();
  const [fetching, setFetching] = useState(false);
  const [error, setError] = useState<CombinedError | null>(null);
  const run = useCallback(
    async (variables: Variables) => {
      setFetching(true);
      try {
        const result = await client.mutation(document, variables).toPromise();
        setError(result.error ?? null);
        return result;
      } finally {
        setFetching(false);
      }
    },
    [client, document],
  );
  return [{ fetching, error }, run];
}
