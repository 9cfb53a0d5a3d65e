// Transformers.js as a plain-HTTP client of a Hub-compatible server (`xetfs serve`, `xetfs proxy`):
// runs pipeline('feature-extraction', REPO) with remote models only, and prints one JSON line:
//   {"embedding": [...], "input_ids": [...], "progress": [{status, file, loaded, total}],
//    "requests": [{url, range, status}], "cached": {file: path}}
// Exits non-zero (message on stderr) when anything fails.
//
// usage: node pipeline.mjs --host URL --repo ORG/NAME --cache-dir DIR [--token T] [--revision REV]
//                          [--text TEXT]
// Install: ONNXRUNTIME_NODE_INSTALL=skip npm ci (in this directory).
import { parseArgs } from 'node:util';
import path from 'node:path';

import { env, pipeline } from '@huggingface/transformers';

const FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];

function options() {
    const { values } = parseArgs({
        options: {
            host: { type: 'string' },
            repo: { type: 'string' },
            'cache-dir': { type: 'string' },
            token: { type: 'string' },
            revision: { type: 'string', default: 'main' },
            text: { type: 'string', default: 'The quick brown fox reads a verified xorb chunk.' },
        },
    });
    for (const required of ['host', 'repo', 'cache-dir']) {
        if (!values[required]) throw new Error(`--${required} is required`);
    }
    return values;
}

// The token goes to our host only through a custom fetch: Transformers.js itself sends one only
// to Hub hosts. Every request is recorded.
function recordingFetch(token, requests) {
    return async (input, init = {}) => {
        const headers = new Headers(init.headers);
        if (token) headers.set('Authorization', `Bearer ${token}`);
        const response = await fetch(input, { ...init, headers });
        requests.push({ url: String(input), range: headers.get('range'), status: response.status });
        return response;
    };
}

// Where the Node file cache keeps a file (keyed without the host; revision only when not main).
function cachedPath(cacheDir, repo, revision, file) {
    return revision === 'main'
        ? path.join(cacheDir, repo, file)
        : path.join(cacheDir, repo, revision, file);
}

async function main() {
    const o = options();
    env.remoteHost = o.host.endsWith('/') ? o.host : `${o.host}/`;
    env.allowLocalModels = false;
    env.allowRemoteModels = true;
    env.useFSCache = true;
    env.cacheDir = o['cache-dir'];
    const requests = [];
    env.fetch = recordingFetch(o.token, requests);

    const progress = [];
    const extractor = await pipeline('feature-extraction', o.repo, {
        revision: o.revision,
        dtype: 'fp32',
        device: 'cpu',
        progress_callback: (e) => {
            if (e.file) progress.push({ status: e.status, file: e.file, loaded: e.loaded, total: e.total });
        },
    });
    const output = await extractor(o.text, { pooling: 'mean', normalize: false });
    const inputIds = extractor.tokenizer(o.text).input_ids;
    const cached = Object.fromEntries(
        FILES.map((f) => [f, cachedPath(o['cache-dir'], o.repo, o.revision, f)]),
    );
    const result = {
        embedding: Array.from(output.data),
        dims: output.dims,
        input_ids: Array.from(inputIds.data, Number),
        progress,
        requests,
        cached,
    };
    console.log(JSON.stringify(result));
}

main().catch((e) => {
    console.error(`FAIL: ${e?.stack ?? e}`);
    process.exit(1);
});
