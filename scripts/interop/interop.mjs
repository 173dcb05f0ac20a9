// interop.mjs BASE_URL — drive a running medledger FHIR server with an
// independent client, fhir-kit-client (pinned in package.json), and check
// every answer: metadata, create, read, update with If-Match, vread,
// history, search (with paging), a transaction with urn:uuid references,
// and delete followed by a read that must fail with 410 Gone.
//
// Prints one "ok" line per step; on the first failure prints "FAIL step:
// why" and exits 1. Needs `scripts/interop.sh` to have installed the client.
// The data is synthetic; names and identifiers are unique per run, so the
// script may also be pointed at a server that already holds records.
//
// Run by internal/api/fhirapi/interop_test.go (TestFHIRKitClientInterop).

import { CapabilityTool, Client } from 'fhir-kit-client';

const baseUrl = process.argv[2];
if (!baseUrl || !/^https?:\/\//.test(baseUrl)) {
	console.error('usage: node interop.mjs BASE_URL   (e.g. http://127.0.0.1:8080/fhir)');
	process.exit(2);
}

// A hung server must not hang CI.
setTimeout(() => {
	console.error('FAIL timeout: the interop run took longer than 60 s');
	process.exit(1);
}, 60_000).unref();

const client = new Client({ baseUrl });

class StepError extends Error {}

let step = '';
function check(cond, why) {
	if (!cond) throw new StepError(why);
}
function eq(got, want, what) {
	const g = JSON.stringify(got);
	const w = JSON.stringify(want);
	check(g === w, `${what} = ${g}; want ${w}`);
}
function ok(detail) {
	console.log(`ok   ${step}${detail ? `: ${detail}` : ''}`);
}

// http returns the fetch Response behind a client result.
function http(result) {
	const { response } = Client.httpFor(result);
	check(response, 'the client kept no HTTP response');
	return response;
}

// rejected runs fn, which must fail with an HTTP error of the given status
// whose body is an OperationOutcome; it returns that outcome.
async function rejected(fn, status, what) {
	let err;
	try {
		await fn();
	} catch (e) {
		err = e;
	}
	check(err, `${what} succeeded; want HTTP ${status}`);
	check(err.response, `${what} failed without an HTTP answer: ${err.message}`);
	eq(err.response.status, status, `${what}: HTTP status`);
	const oo = err.response.data;
	eq(oo?.resourceType, 'OperationOutcome', `${what}: error body resourceType`);
	check(Array.isArray(oo.issue) && oo.issue.length > 0, `${what}: OperationOutcome has no issue`);
	return oo;
}

function entryResources(bundle) {
	return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'outcome').map((e) => e.resource);
}

// searchset checks a search answer and returns its matching resources.
function searchset(bundle, total, type, what) {
	eq(bundle.resourceType, 'Bundle', `${what}: resourceType`);
	eq(bundle.type, 'searchset', `${what}: Bundle.type`);
	eq(bundle.total, total, `${what}: Bundle.total`);
	const rs = entryResources(bundle);
	for (const r of rs) eq(r?.resourceType, type, `${what}: entry resourceType`);
	return rs;
}

// created checks a transaction-response entry and returns [type, id].
function created(entry, type, what) {
	const status = entry?.response?.status ?? '';
	check(status.startsWith('201'), `${what}: response.status = ${JSON.stringify(status)}; want 201 Created`);
	const loc = entry.response.location ?? '';
	const m = loc.match(/(?:^|\/)([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/(\d+)$/);
	check(m, `${what}: response.location = ${JSON.stringify(loc)}; want ${type}/[id]/_history/[vid]`);
	eq(m[1], type, `${what}: location type`);
	eq(m[3], '1', `${what}: location version`);
	eq(entry.response.etag, 'W/"1"', `${what}: response.etag`);
	return m[2];
}

const run = Math.random().toString(36).slice(2, 10).replace(/[0-9]/g, (d) => 'abcdefghij'[d]);
const family = `Kitclient${run}`;
const mrnSystem = 'urn:oid:2.16.840.1.113883.19.5.99999.1';
const mrn = `KIT-${run}`;
const loinc = 'http://loinc.org';

const steps = [];
const state = {};
function define(name, fn) {
	steps.push([name, fn]);
}

define('metadata', async () => {
	const cs = await client.capabilityStatement();
	eq(cs.resourceType, 'CapabilityStatement', 'resourceType');
	eq(cs.fhirVersion, '4.0.1', 'fhirVersion');
	const tool = new CapabilityTool(cs);
	check(tool.serverCapabilities(), 'no rest entry with mode "server"');
	for (const i of ['transaction', 'batch']) check(tool.serverCan(i), `server does not advertise ${i}`);
	for (const t of ['Patient', 'Observation']) {
		for (const i of ['create', 'read', 'vread', 'update', 'delete', 'history-instance', 'search-type']) {
			check(tool.resourceCan(t, i), `${t} does not advertise ${i}`);
		}
	}
	for (const p of ['name', 'identifier']) check(tool.resourceSearch('Patient', p), `Patient does not advertise search by ${p}`);
	for (const p of ['patient', 'code']) check(tool.resourceSearch('Observation', p), `Observation does not advertise search by ${p}`);
	ok(`FHIR ${cs.fhirVersion}, ${tool.serverCapabilities().resource?.length ?? 0} resource types`);
});

define('create Patient', async () => {
	const p = await client.create({
		resourceType: 'Patient',
		body: {
			resourceType: 'Patient',
			identifier: [{ system: mrnSystem, value: mrn }],
			name: [{ family, given: ['Ada'] }],
			gender: 'female',
			birthDate: '1980-02-29',
		},
	});
	eq(p.resourceType, 'Patient', 'resourceType');
	check(typeof p.id === 'string' && p.id !== '', `no server-assigned id: ${JSON.stringify(p.id)}`);
	eq(p.meta?.versionId, '1', 'meta.versionId');
	check(p.meta?.lastUpdated, 'no meta.lastUpdated');
	const res = http(p);
	eq(res.status, 201, 'HTTP status');
	eq(res.headers.get('etag'), 'W/"1"', 'ETag');
	const loc = res.headers.get('location') ?? '';
	check(loc.endsWith(`/Patient/${p.id}/_history/1`), `Location = ${JSON.stringify(loc)}; want .../Patient/${p.id}/_history/1`);
	state.pid = p.id;
	ok(`Patient/${p.id} version 1`);
});

define('read', async () => {
	const p = await client.read({ resourceType: 'Patient', id: state.pid });
	eq(p.resourceType, 'Patient', 'resourceType');
	eq(p.id, state.pid, 'id');
	eq(p.meta?.versionId, '1', 'meta.versionId');
	eq(p.name?.[0]?.family, family, 'name[0].family');
	eq(p.identifier?.[0]?.value, mrn, 'identifier[0].value');
	eq(p.birthDate, '1980-02-29', 'birthDate');
	const etag = http(p).headers.get('etag');
	eq(etag, 'W/"1"', 'ETag');
	state.patient = p;
	state.etag = etag;
	ok(`Patient/${p.id} ETag ${etag}`);
});

define('update with If-Match', async () => {
	const body = { ...state.patient, gender: 'other' };
	const p = await client.update({
		resourceType: 'Patient',
		id: state.pid,
		body,
		options: { headers: { 'If-Match': state.etag } },
	});
	eq(p.resourceType, 'Patient', 'resourceType');
	eq(p.id, state.pid, 'id');
	eq(p.meta?.versionId, '2', 'meta.versionId');
	eq(p.gender, 'other', 'gender');
	const res = http(p);
	eq(res.status, 200, 'HTTP status');
	eq(res.headers.get('etag'), 'W/"2"', 'ETag');
	ok(`Patient/${p.id} version 2`);
});

define('update with a stale If-Match', async () => {
	const body = { ...state.patient, gender: 'unknown' };
	const oo = await rejected(
		() => client.update({ resourceType: 'Patient', id: state.pid, body, options: { headers: { 'If-Match': state.etag } } }),
		412,
		`PUT Patient/${state.pid} with If-Match ${state.etag}`,
	);
	ok(`412 Precondition Failed, issue code ${oo.issue[0].code}`);
});

define('vread', async () => {
	const v1 = await client.vread({ resourceType: 'Patient', id: state.pid, version: '1' });
	eq(v1.resourceType, 'Patient', 'version 1: resourceType');
	eq(v1.id, state.pid, 'version 1: id');
	eq(v1.meta?.versionId, '1', 'version 1: meta.versionId');
	eq(v1.gender, 'female', 'version 1: gender');
	eq(http(v1).headers.get('etag'), 'W/"1"', 'version 1: ETag');
	const v2 = await client.vread({ resourceType: 'Patient', id: state.pid, version: '2' });
	eq(v2.meta?.versionId, '2', 'version 2: meta.versionId');
	eq(v2.gender, 'other', 'version 2: gender');
	ok('versions 1 and 2 as written');
});

define('history', async () => {
	const h = await client.history({ resourceType: 'Patient', id: state.pid });
	eq(h.resourceType, 'Bundle', 'resourceType');
	eq(h.type, 'history', 'Bundle.type');
	eq(h.total, 2, 'Bundle.total');
	const entries = h.entry ?? [];
	eq(entries.length, 2, 'number of entries');
	// FHIR R4 3.1.0.11: "sorted with oldest versions last".
	eq(
		entries.map((e) => e.resource?.meta?.versionId),
		['2', '1'],
		'entry versionIds (newest first)',
	);
	for (const e of entries) {
		eq(e.resource?.resourceType, 'Patient', 'entry resourceType');
		eq(e.resource?.id, state.pid, 'entry id');
		check(e.request?.method && e.response?.status, `entry ${e.resource?.meta?.versionId} lacks request.method or response.status`);
	}
	eq(entries.map((e) => e.request.method), ['PUT', 'POST'], 'entry request.method');
	ok(`total ${h.total}`);
});

define('create Observation', async () => {
	const o = await client.create({
		resourceType: 'Observation',
		body: {
			resourceType: 'Observation',
			status: 'final',
			code: { coding: [{ system: loinc, code: '29463-7', display: 'Body weight' }] },
			subject: { reference: `Patient/${state.pid}` },
			effectiveDateTime: '2024-03-01T09:30:00Z',
			valueQuantity: { value: 61.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
		},
	});
	eq(o.resourceType, 'Observation', 'resourceType');
	eq(o.meta?.versionId, '1', 'meta.versionId');
	eq(o.subject?.reference, `Patient/${state.pid}`, 'subject.reference');
	state.oid = o.id;
	ok(`Observation/${o.id}`);
});

define('search Patient by name', async () => {
	const b = await client.search({ resourceType: 'Patient', searchParams: { name: family } });
	const rs = searchset(b, 1, 'Patient', `Patient?name=${family}`);
	eq(rs.map((r) => r.id), [state.pid], 'matched ids');
	eq(rs[0].meta?.versionId, '2', 'matched versionId');
	ok(`total ${b.total}`);
});

define('search Patient by identifier', async () => {
	const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${mrnSystem}|${mrn}` } });
	const rs = searchset(b, 1, 'Patient', 'Patient?identifier=system|value');
	eq(rs.map((r) => r.id), [state.pid], 'matched ids');
	const none = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${mrnSystem}|${mrn}-nobody` } });
	searchset(none, 0, 'Patient', 'Patient?identifier=(no such value)');
	ok(`total ${b.total}; an unknown identifier gives 0`);
});

define('search Observation by patient and code', async () => {
	const b = await client.search({
		resourceType: 'Observation',
		searchParams: { patient: state.pid, code: `${loinc}|29463-7` },
	});
	const rs = searchset(b, 1, 'Observation', 'Observation?patient&code');
	eq(rs.map((r) => r.id), [state.oid], 'matched ids');
	const other = await client.search({
		resourceType: 'Observation',
		searchParams: { patient: state.pid, code: `${loinc}|8867-4` },
	});
	searchset(other, 0, 'Observation', 'Observation?patient&code=(another code)');
	ok(`total ${b.total}; another code gives 0`);
});

define('transaction with urn:uuid references', async () => {
	const pu = 'urn:uuid:3f1c7a52-9b7e-4c1e-a1f0-6d2b8c4e5a01';
	const ou = 'urn:uuid:8a6d2e14-5c3b-4f7a-9e21-0b9c7d3f4e02';
	const bundle = {
		resourceType: 'Bundle',
		type: 'transaction',
		entry: [
			{
				fullUrl: pu,
				resource: { resourceType: 'Patient', name: [{ family, given: ['Grace'] }], gender: 'female', birthDate: '1975-12-09' },
				request: { method: 'POST', url: 'Patient' },
			},
			{
				fullUrl: ou,
				resource: {
					resourceType: 'Observation',
					status: 'final',
					code: { coding: [{ system: loinc, code: '8867-4', display: 'Heart rate' }] },
					subject: { reference: pu },
					effectiveDateTime: '2024-03-02T08:00:00Z',
					valueQuantity: { value: 64, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
				},
				request: { method: 'POST', url: 'Observation' },
			},
		],
	};
	const r = await client.transaction({ body: bundle });
	eq(http(r).status, 200, 'HTTP status');
	eq(r.resourceType, 'Bundle', 'resourceType');
	eq(r.type, 'transaction-response', 'Bundle.type');
	eq(r.entry?.length, 2, 'number of entries');
	const pid = created(r.entry[0], 'Patient', 'entry[0]');
	const oid = created(r.entry[1], 'Observation', 'entry[1]');
	const o = await client.read({ resourceType: 'Observation', id: oid });
	eq(o.subject?.reference, `Patient/${pid}`, 'the Observation\'s subject (urn:uuid resolved)');
	const p = await client.read({ resourceType: 'Patient', id: pid });
	eq(p.name?.[0]?.given, ['Grace'], 'the Patient as read back: name[0].given');
	const b = await client.search({ resourceType: 'Observation', searchParams: { patient: pid } });
	eq(searchset(b, 1, 'Observation', 'Observation?patient=(new)').map((x) => x.id), [oid], 'matched ids');
	state.pid2 = pid;
	ok(`Patient/${pid}, Observation/${oid} → subject Patient/${pid}`);
});

define('search with paging', async () => {
	const first = await client.search({ resourceType: 'Patient', searchParams: { name: family, _count: '1' } });
	const a = searchset(first, 2, 'Patient', 'page 1');
	eq(a.length, 1, 'page 1: entries');
	const second = await client.nextPage({ bundle: first });
	check(second, 'page 1 has no next link');
	const b = searchset(second, 2, 'Patient', 'page 2');
	eq(b.length, 1, 'page 2: entries');
	eq([a[0].id, b[0].id].sort(), [state.pid, state.pid2].sort(), 'ids over both pages');
	const third = await client.nextPage({ bundle: second });
	check(third === undefined || entryResources(third).length === 0, 'a page after the last has entries');
	ok('2 pages of 1');
});

define('delete, then read gives 410', async () => {
	const d = await client.delete({ resourceType: 'Patient', id: state.pid });
	const st = http(d).status;
	check(st === 200 || st === 202 || st === 204, `delete: HTTP status ${st}; want 200, 202 or 204`);
	const oo = await rejected(() => client.read({ resourceType: 'Patient', id: state.pid }), 410, `GET Patient/${state.pid}`);
	const h = await client.history({ resourceType: 'Patient', id: state.pid });
	eq(h.total, 3, 'history after delete: Bundle.total');
	eq(h.entry?.[0]?.request?.method, 'DELETE', 'history after delete: newest entry request.method');
	const v2 = await client.vread({ resourceType: 'Patient', id: state.pid, version: '2' });
	eq(v2.meta?.versionId, '2', 'vread 2 after delete: meta.versionId');
	const b = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${mrnSystem}|${mrn}` } });
	searchset(b, 0, 'Patient', 'search for the deleted Patient');
	ok(`HTTP ${st}; read → 410 (${oo.issue[0].code}); history total 3; no longer found by search`);
});

for (const [name, fn] of steps) {
	step = name;
	try {
		await fn();
	} catch (e) {
		let why = e instanceof StepError ? e.message : `${e?.stack ?? e}`;
		if (e?.cause) {
			why += ` (cause: ${e.cause.message ?? e.cause})`;
		}
		if (e?.response) {
			why = `${e.message}: HTTP ${e.response.status} ${JSON.stringify(e.response.data)}`;
		}
		console.error(`FAIL ${name}: ${why}`);
		process.exit(1);
	}
}
console.log(`fhir-kit-client interop: all ${steps.length} steps ok`);
process.exit(0);
