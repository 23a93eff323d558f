/**
 * Waits for steps that run side by side, every one of them, then throws the first failure
 * (in the order given) if any failed. Unlike `Promise.all`, nothing is still running when a
 * failure reaches the caller, so its cleanup (removing a directory the steps write into)
 * does not race them.
 */
export async function settleAll(steps: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
