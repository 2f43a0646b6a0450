// An in-memory FHIR R4 server for the tests, on @asymmetrik/node-fhir-server-core: it serves
// Observation and Procedure searches (patient, code, date ge/le, _count) from the resources of
// the Bundle file named by FHIR_DATA, under http://127.0.0.1:PORT/4_0_1/. With FHIR_TOKEN set,
// every request must carry "Authorization: Bearer FHIR_TOKEN" (the hook's fhirAuthorization).
// It prints "listening <port>" once ready.
'use strict';

const fs = require('fs');
const express = require('express');
const { Server, constants } = require('@asymmetrik/node-fhir-server-core');

const data = JSON.parse(fs.readFileSync(process.env.FHIR_DATA, 'utf8'));
const resources = (data.entry || []).map((entry) => entry.resource).filter(Boolean);
const requests = [];

function tokenList(value) {
  return String(value || '').split(',').map((s) => s.trim()).filter(Boolean);
}

function matchesCode(resource, wanted) {
  if (!wanted.length) return true;
  const codings = (resource.code && resource.code.coding) || [];
  return codings.some((c) => wanted.some((w) => {
    const [system, code] = w.includes('|') ? w.split('|') : [null, w];
    return c.code === code && (system === null || c.system === system);
  }));
}

function when(resource) {
  return resource.effectiveDateTime || resource.performedDateTime || null;
}

function matchesDate(resource, values) {
  const at = when(resource);
  for (const value of [].concat(values || [])) {
    const prefix = String(value).slice(0, 2);
    const bound = new Date(String(value).slice(2));
    if (!at) return false;
    if (prefix === 'ge' && new Date(at) < bound) return false;
    if (prefix === 'le' && new Date(at) > bound) return false;
  }
  return true;
}

function searchOf(type) {
  return async (args, context) => {
    const query = context.req.query;
    requests.push({ type, query });
    const patient = String(query.patient || query.subject || '').replace(/^Patient\//, '');
    let found = resources.filter((r) => r.resourceType === type
      && (!patient || ((r.subject && r.subject.reference) || '') === `Patient/${patient}`)
      && matchesCode(r, tokenList(query.code))
      && matchesDate(r, query.date));
    found.sort((a, b) => String(when(b)).localeCompare(String(when(a))));
    const count = parseInt(query._count || '0', 10);
    if (count > 0) found = found.slice(0, count);
    return {
      resourceType: 'Bundle', type: 'searchset', total: found.length,
      entry: found.map((r) => ({ fullUrl: `${type}/${r.id}`, resource: r, search: { mode: 'match' } })),
    };
  };
}

const app = express();
app.use((req, res, next) => {
  const token = process.env.FHIR_TOKEN;
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    res.status(401).json({ resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'security', diagnostics: 'bad or missing token' }] });
    return;
  }
  next();
});
app.get('/requests', (req, res) => res.json(requests));

const version = constants.VERSIONS['4_0_1'];
const config = {
  profiles: {
    Observation: { service: { search: searchOf('Observation') }, versions: [version] },
    Procedure: { service: { search: searchOf('Procedure') }, versions: [version] },
  },
  server: { port: 0 },
  logging: { level: 'error' },
};
const server = new Server(config, app)
  .configureMiddleware().setProfileRoutes().setErrorRoutes();
const listener = server.app.listen(parseInt(process.env.PORT || '0', 10), '127.0.0.1', () => {
  process.stdout.write(`listening ${listener.address().port}\n`);
});
