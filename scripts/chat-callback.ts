// `npm run chat-callback`: the endpoint a chat app's interactive buttons call (Slack's "Interactivity
// Request URL"). A callback is checked the way Slack signs it (HMAC-SHA256 of v0:<timestamp>:<body> with the
// app's signing secret, at most 5 minutes old) and, if good, sent to the run as the verdict's proof,
// exactly as received: the worker checks it again with the same secret and maps the chat user to an
// approver (approvals.chat in its config), so this endpoint needs no trust of its own.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { chatAction, chatSignatureValid } from '../activities/runbook/verdict-proofs.js';
import { loadWorkerConfig } from '../workers/config.js';
import { connectClient } from '../workers/connection.js';
import { chatTimestampRefusal, parseStatement } from '../workflows/engine/proofs.js';

export interface ChatCallback {
  server: Server;
  url: string;
  close(): Promise<void>;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let b = '';
    req.on('data', (c: Buffer) => {
      b += c;
      if (b.length > 1024 * 1024) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
}

export async function startChatCallback(o: { signingSecretFile: string; client: Client; port?: number; host?: string }): Promise<ChatCallback> {
  const server = createServer((req, res) => {
    const answer = (status: number, text: string): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ text }));
    };
    void (async () => {
      if (req.method !== 'POST') return answer(405, 'POST the interactive callback here');
      const raw = await body(req);
      const timestamp = String(req.headers['x-slack-request-timestamp'] ?? '');
      const signature = String(req.headers['x-slack-signature'] ?? '');
      const old = chatTimestampRefusal(timestamp, Date.now());
      if (old) return answer(401, old);
      // Read at each callback: a rotated secret takes effect at once.
      if (!chatSignatureValid(readFileSync(o.signingSecretFile, 'utf8').trim(), timestamp, raw, signature)) {
        return answer(401, 'the callback signature does not match the signing secret');
      }
      const action = chatAction(raw);
      if (typeof action === 'string') return answer(400, action);
      const st = parseStatement(action.value);
      if (typeof st === 'string') return answer(400, st);
      const verdict = action.actionId === 'reject' ? 'reject' : 'approve';
      try {
        const rec = await o.client.workflow
          .getHandle(st.workflowId)
          .executeUpdate(verdict, { args: [{ gate: st.gate, reason: `from chat (${verdict})`, proof: { kind: 'chat', body: raw, timestamp, signature } }] });
        return answer(
          200,
          `${verdict === 'approve' ? 'approved' : 'rejected'} gate ${st.gate} of ${st.workflowId} as ${(rec as { approver: string }).approver}`,
        );
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) return answer(403, String((err.cause as Error | undefined)?.message ?? err.message));
        throw err;
      }
    })().catch((err: unknown) => answer(500, String((err as Error).message ?? err)));
  });
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const a = server.address() as AddressInfo;
  return {
    server,
    url: `http://${o.host ?? '127.0.0.1'}:${a.port}/chat/actions`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const secret = config.approvals.chat.signingSecretFile;
  if (!secret) {
    console.error('chat-callback: no approvals.chat.signingSecretFile (RUNBOOK_CHAT_SIGNING_SECRET_FILE) in the worker config');
    process.exit(2);
  }
  const cb = await startChatCallback({
    signingSecretFile: secret,
    client: await connectClient(),
    port: Number(process.env.RUNBOOK_CHAT_CALLBACK_PORT ?? 8899),
  });
  console.log(`chat-callback: ${cb.url} (the chat app's interactivity request URL)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
