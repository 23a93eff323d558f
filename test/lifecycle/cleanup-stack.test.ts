import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../src/lifecycle/cleanup-stack.js';

describe('CleanupStack', () => {
  it('runs undo steps newest first and keeps going after a failure', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('mount', () => {
      order.push('mount');
      return Promise.resolve();
    });
    stack.push('map', () => {
      order.push('map');
      return Promise.reject(new Error('busy'));
    });
    stack.push('unmount', () => {
      order.push('unmount');
      return Promise.resolve();
    });
    const outcomes = await stack.unwind();
    expect(order).toEqual(['unmount', 'map', 'mount']);
    expect(outcomes.map((o) => [o.name, o.ok])).toEqual([
      ['unmount', true],
      ['map', false],
      ['mount', true],
    ]);
    expect(stack.size).toBe(0);
  });

  it('drops a step that was undone early', async () => {
    const stack = new CleanupStack();
    const ran: string[] = [];
    const drop = stack.push('a', () => {
      ran.push('a');
      return Promise.resolve();
    });
    drop();
    expect(await stack.unwind()).toEqual([]);
    expect(ran).toEqual([]);
  });
});
