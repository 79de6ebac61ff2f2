// The node-folder contract lives in src/lib/local-nodes.ts (shared with the local node agent).
export * from '../lib/local-nodes.js';
