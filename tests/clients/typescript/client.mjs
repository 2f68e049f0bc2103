// The official MCP TypeScript SDK as a client of this server's /mcp (issue 16): connect,
// list the tools, call search_code and list_repositories, wait for the SDK's background
// GET (the listening stream it opens after notifications/initialized), close. Every error
// the SDK reports through transport.onerror or client.onerror is recorded: a server that
// answers that GET 405 leaves them silent; any other answer (406 was the bug) fires them.
//
//   MCP_API_KEY=mcp_… node client.mjs http://127.0.0.1:8000/mcp
//
// Environment: MCP_URL (or the first argument), MCP_API_KEY (sent as Authorization:
// Bearer; none sent when empty), MCP_CLIENT_PROTOCOL_VERSION (optional: the revision to
// ask for in initialize instead of the SDK's latest), MCP_CLIENT_TIMEOUT_MS (default 20000).
// Prints one JSON line; exits 0 when everything worked and no error was reported, 1 when
// something failed, 2 on a timeout.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const SDK_VERSION = JSON.parse(
    readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url))
).version;

const url = process.argv[2] || process.env.MCP_URL;
const apiKey = process.env.MCP_API_KEY || '';
const askedVersion = process.env.MCP_CLIENT_PROTOCOL_VERSION || null;
const timeoutMs = Number(process.env.MCP_CLIENT_TIMEOUT_MS || 20000);
// How long to wait for the background GET once everything else is done.
const GET_WAIT_MS = 5000;
// Once its answer is in, how long the SDK may take to report it.
const SETTLE_MS = 300;

const report = {
    ok: false,
    sdk: SDK_VERSION,
    node: process.version,
    askedProtocolVersion: askedVersion,
    protocolVersion: null,
    server: null,
    stage: 'start',
    tools: [],
    calls: {},
    http: [],
    errors: [],
    failure: null,
};

function describe(error) {
    if (!(error instanceof Error)) {
        return { name: typeof error, message: String(error) };
    }
    const described = { name: error.constructor?.name || error.name, message: error.message };
    if (error.code !== undefined) {
        described.code = error.code;
    }
    return described;
}

function finish(exitCode) {
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(exitCode);
}

if (!url) {
    report.failure = { name: 'Usage', message: 'pass the /mcp URL as the first argument or MCP_URL' };
    finish(1);
}

setTimeout(() => {
    report.failure = { name: 'Timeout', message: `not done after ${timeoutMs} ms at stage ${report.stage}` };
    finish(2);
}, timeoutMs).unref();

// Every HTTP exchange the transport makes, to show that the GET happened and what it got.
async function recordingFetch(input, init = {}) {
    const method = init.method || 'GET';
    const headers = new Headers(init.headers);
    let body = null;
    try {
        body = typeof init.body === 'string' ? JSON.parse(init.body) : null;
    } catch {
        body = null;
    }
    const exchange = {
        method,
        accept: headers.get('accept'),
        protocolVersion: headers.get('mcp-protocol-version'),
        rpc: body && (body.method || (body.id !== undefined ? 'response' : null)),
        status: null,
    };
    report.http.push(exchange);
    try {
        const response = await fetch(input, init);
        exchange.status = response.status;
        return response;
    } catch (error) {
        exchange.status = `failed: ${error.message}`;
        throw error;
    }
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {} },
    fetch: recordingFetch,
});
transport.onerror = error => report.errors.push({ source: 'transport.onerror', stage: report.stage, ...describe(error) });

if (askedVersion) {
    // The SDK always asks for its latest revision; an older client asked for another.
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
        if (message.method === 'initialize') {
            message = { ...message, params: { ...message.params, protocolVersion: askedVersion } };
        }
        return send(message, options);
    };
}

const client = new Client({ name: 'mcp-code-server-ts-test', version: '0.0.0' });
client.onerror = error => report.errors.push({ source: 'client.onerror', stage: report.stage, ...describe(error) });

async function callTool(name, args) {
    const result = await client.callTool({ name, arguments: args });
    return {
        isError: Boolean(result.isError),
        structured: result.structuredContent !== undefined,
        structuredKeys: Object.keys(result.structuredContent || {}).sort(),
        content: (result.content || []).map(part => (part.type === 'text' ? part.text.slice(0, 500) : part.type)),
        hits: Array.isArray(result.structuredContent?.hits) ? result.structuredContent.hits.length : null,
    };
}

try {
    report.stage = 'connect';
    await client.connect(transport);
    report.protocolVersion = transport.protocolVersion ?? null;
    report.server = client.getServerVersion() ?? null;

    report.stage = 'listTools';
    report.tools = (await client.listTools()).tools.map(tool => tool.name);

    report.stage = 'callTool';
    report.calls.search_code = await callTool('search_code', { query: 'def ' });
    report.calls.list_repositories = await callTool('list_repositories', {});

    // The GET for the listening stream is sent in the background after
    // notifications/initialized; let it be answered and reported before closing.
    report.stage = 'listening stream';
    const deadline = Date.now() + GET_WAIT_MS;
    while (!report.http.some(exchange => exchange.method === 'GET' && exchange.status !== null)) {
        if (Date.now() > deadline) {
            break;
        }
        await sleep(20);
    }
    await sleep(SETTLE_MS);

    report.stage = 'close';
    await client.close();
    report.stage = 'done';
} catch (error) {
    report.failure = { stage: report.stage, ...describe(error) };
    await client.close().catch(() => {});
}

const calls = Object.values(report.calls);
report.ok =
    report.failure === null &&
    report.errors.length === 0 &&
    calls.length === 2 &&
    calls.every(call => !call.isError && call.structured);
finish(report.ok ? 0 : 1);
