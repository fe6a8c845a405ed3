#!/usr/bin/env node
// Runs graphql-http's GraphQL-over-HTTP server audits against a running
// Strongroom and prints one JSON document with every audit's outcome.
//
//   STRONGROOM_TOKEN=sr_... node tests/conformance/audit.mjs http://127.0.0.1:8000/graphql
//
// Every operation of the API needs a bearer token, so each audit request
// carries STRONGROOM_TOKEN. Audits run one after another (not all at once as
// graphql-http's auditServer does) so each failure can be shown with the
// exchange that caused it. Exit status: 0 when the audits ran, whatever their
// outcome (the caller judges); 2 for bad usage; 1 when an audit crashed.
import { readFileSync } from 'node:fs';
import { serverAudits } from 'graphql-http';

const REQUEST_TIMEOUT_MS = 15_000;
const BODY_EXCERPT = 2_000;

function usage(message) {
  process.stderr.write(`audit.mjs: ${message}\nusage: STRONGROOM_TOKEN=<token> node audit.mjs <graphql url>\n`);
  process.exit(2);
}

const url = process.argv[2];
const token = process.env.STRONGROOM_TOKEN;
if (!url) usage('missing the GraphQL endpoint URL');
if (!token) usage('STRONGROOM_TOKEN is not set');

const version = JSON.parse(
  readFileSync(new URL('./node_modules/graphql-http/package.json', import.meta.url), 'utf8'),
).version;

// The request and response of the audit being run, to explain a failure.
let exchanges = [];

async function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers ?? {});
  headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(input, {
    ...init,
    headers,
    signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const shown = Object.fromEntries([...headers].filter(([name]) => name !== 'authorization'));
  const text = await response.clone().text();
  exchanges.push({
    request: {
      method: init.method ?? 'GET',
      url: String(input),
      headers: shown,
      body: typeof init.body === 'string' ? init.body.slice(0, BODY_EXCERPT) : init.body == null ? null : '<non-text body>',
    },
    response: {
      status: response.status,
      contentType: response.headers.get('content-type'),
      body: text.slice(0, BODY_EXCERPT),
    },
  });
  return response;
}

const audits = [];
let crashed = false;
for (const { id, name, fn } of serverAudits({ url, fetchFn })) {
  exchanges = [];
  const requirement = name.split(' ', 1)[0];
  try {
    const result = await fn();
    const entry = { id, name, requirement, status: result.status };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.exchanges = exchanges;
    }
    audits.push(entry);
  } catch (error) {
    crashed = true;
    audits.push({ id, name, requirement, status: 'crashed', reason: String(error?.stack ?? error), exchanges });
  }
}

const summary = {};
for (const { status } of audits) summary[status] = (summary[status] ?? 0) + 1;
process.stdout.write(`${JSON.stringify({ graphqlHttp: version, url, summary, audits }, null, 2)}\n`);
process.exit(crashed ? 1 : 0);
