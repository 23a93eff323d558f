import { describe, expect, it } from 'vitest';
import { parseTriggerEvents } from '../../src/policy/trigger-events.js';
import { parseFreeze, parseMysqldump } from '../../src/policy/consistency-options.js';

describe('parseTriggerEvents', () => {
  it.each([
    ['detach', ['detach']],
    ['Detach,attach', ['detach', 'attach']],
    ['extend', ['resize']],
    [
      'retype, manage_existing,transfer,revert,update',
      ['retype', 'manage_existing', 'transfer', 'revert', 'update'],
    ],
    ['', []],
  ])('parses %j', (value, events) => {
    expect(parseTriggerEvents(value)).toEqual({ ok: true, events });
  });

  it.each(['delete', 'detach;reboot', 'x'.repeat(201)])('refuses %j', (value) => {
    expect(parseTriggerEvents(value).ok).toBe(false);
  });
});

describe('parseMysqldump and parseFreeze', () => {
  it.each([
    ['all', { databases: 'all' }],
    ['true', { databases: 'all' }],
    ['off', null],
    ['shop, wiki,shop', { databases: ['shop', 'wiki'] }],
  ])('mysqldump %j', (value, expected) => {
    expect(parseMysqldump(value)).toEqual({ ok: true, value: expected });
  });

  it.each(['a b', '-e', "x'y", '`id`', 'a'.repeat(65), 'shop$x', '$(id)', 'a;b', 'a"b'])(
    'mysqldump refuses %j',
    (value) => {
      expect(parseMysqldump(value).ok).toBe(false);
    },
  );

  it.each([
    ['/var/lib/mysql', { mountpoints: ['/var/lib/mysql'] }],
    ['/data,/srv/db', { mountpoints: ['/data', '/srv/db'] }],
    ['no', null],
  ])('freeze %j', (value, expected) => {
    expect(parseFreeze(value)).toEqual({ ok: true, value: expected });
  });

  it.each(['data', '/a b', '/a/./b', '/$(id)', '/x;y', '/'])('freeze refuses %j', (value) => {
    expect(parseFreeze(value).ok).toBe(false);
  });
});
