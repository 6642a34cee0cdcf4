// How everything reaches Temporal: @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API
// key, or a TOML profile). With nothing configured it is the local dev server on 127.0.0.1:7233.
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import { dataConverter } from './payload-codec.js';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';

export function temporalSettings() {
  const cfg = loadClientConnectConfig();
  const connectionOptions = { ...cfg.connectionOptions, address: cfg.connectionOptions.address ?? DEFAULT_ADDRESS };
  return { connectionOptions, namespace: cfg.namespace ?? 'default' };
}

export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = temporalSettings();
  const connection = await Connection.connect(connectionOptions);
  // Payload encryption when a key is configured (workers/payload-codec.ts); plain payloads otherwise.
  const converter = dataConverter();
  return new Client({ connection, namespace, ...(converter ? { dataConverter: converter } : {}) });
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = temporalSettings();
  return { connection: await NativeConnection.connect(connectionOptions), namespace };
}
