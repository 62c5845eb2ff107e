/**
 * Compiles the config file's JSON schema into plain code at build time (ajv's standalone output,
 * dist/src/config/config-check.cjs). Loading a config then neither imports ajv nor compiles the
 * schema, which took about 115 ms of every command and of the daemon's start.
 */
import { writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { configSchema } from '../dist/src/config/schema.js';

// The same options as the checks made at run time before (strict schema, every error listed).
const ajv = new Ajv({ allErrors: true, strict: true, code: { source: true } });
const check = ajv.compile(configSchema);
writeFileSync(new URL('../dist/src/config/config-check.cjs', import.meta.url), standaloneCode.default(ajv, check));
