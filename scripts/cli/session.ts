// One Temporal client per CLI invocation, from the same envconfig as the worker (and its data converter).
import type { Client } from '@temporalio/client';
import { connectClient } from '../../workers/connection.js';

export const TASK_QUEUE = process.env.RUNBOOK_TASK_QUEUE ?? 'runbooks';

export async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}
