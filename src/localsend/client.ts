/**
 * Requests to a LocalSend device over HTTPS: p2pd's certificate goes along as the client
 * certificate (app 1.18 requires one), and the device's certificate must have the fingerprint it
 * announced, checked before any byte of the body is sent. Plain HTTP only when the caller asks
 * (`protocol: "http"`, the user's opt-in): nothing is verified then.
 */
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import { P2pdError } from '../errors.js';
import { certificateFingerprint, sameFingerprint, type LocalSendIdentity } from './identity.js';

export interface LsReply {
  status: number;
  json: unknown;
  /** The fingerprint of the certificate the device served. */
  fingerprint: string;
}

const MAX_REPLY = 1024 * 1024;

export async function lsRequest(
  target: { address: string; port: number; fingerprint: string | null; protocol?: 'http' | 'https' },
  req: { method: 'GET' | 'POST'; path: string; json?: unknown; body?: Readable; length?: number },
  options: { identity: LocalSendIdentity; signal: AbortSignal },
): Promise<LsReply> {
  const data = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
  const host = target.address.includes(':') ? `[${target.address}]` : target.address;
  const plain = target.protocol === 'http';
  return new Promise<LsReply>((resolve, reject) => {
    const r = (plain ? httpRequest : request)(
      {
        host: target.address,
        port: target.port,
        method: req.method,
        path: `/api/localsend/v2/${req.path}`,
        // Our key never goes to a device that cannot check it.
        ...(plain ? {} : { cert: options.identity.certPem, key: options.identity.keyPem }),
        // Self-signed by design: the pin below is the check.
        rejectUnauthorized: false,
        agent: false,
        signal: options.signal,
        headers: {
          host: `${host}:${target.port}`,
          ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          ...(req.length !== undefined ? { 'content-length': req.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY) res.destroy(new P2pdError('PROTOCOL_UNEXPECTED', 'the LocalSend device sent an oversized reply'));
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = text === '' ? null : (JSON.parse(text) as unknown);
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, json, fingerprint: served });
        });
      },
    );
    let served = '';
    r.on('socket', (socket) => {
      socket.once('secureConnect', () => {
        const cert = (socket as TLSSocket).getPeerCertificate();
        served = cert.raw === undefined ? '' : certificateFingerprint(cert.raw);
        if (target.fingerprint !== null && !sameFingerprint(served, target.fingerprint)) {
          r.destroy(new P2pdError('PEER_IDENTITY_MISMATCH', `the LocalSend device at ${target.address} shows another certificate than it announced`));
        }
      });
    });
    r.on('error', reject);
    if (req.body !== undefined) pipeline(req.body, r).catch(reject);
    else r.end(data);
  });
}
