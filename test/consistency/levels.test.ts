import { describe, expect, it } from 'vitest';
import { dumpCompleted, parseBinlogPosition } from '../../src/consistency/dump-output.js';
import {
  demandedLevel,
  reachedLevel,
  shortfallReason,
  type StepOutcome,
} from '../../src/policy/consistency-levels.js';

const ok = (step: StepOutcome['step']): StepOutcome => ({ step, ok: true, durationMs: 1 });
const failed = (step: StepOutcome['step']): StepOutcome => ({
  step,
  ok: false,
  code: 'SSH_UNREACHABLE',
  reason: 'refused',
  durationMs: 1,
});

describe('consistency levels', () => {
  it('demands what the steps imply unless told otherwise', () => {
    expect(demandedLevel(null, { mysqldump: true, freeze: true })).toEqual({
      ok: true,
      level: 'application',
    });
    expect(demandedLevel(null, { mysqldump: false, freeze: true })).toEqual({
      ok: true,
      level: 'filesystem',
    });
    expect(demandedLevel(null, { mysqldump: false, freeze: false })).toEqual({
      ok: true,
      level: 'crash',
    });
    expect(demandedLevel('crash', { mysqldump: true, freeze: true })).toEqual({
      ok: true,
      level: 'crash',
    });
  });

  it('refuses a demand the steps cannot meet', () => {
    expect(demandedLevel('application', { mysqldump: false, freeze: true }).ok).toBe(false);
    expect(demandedLevel('filesystem', { mysqldump: true, freeze: false }).ok).toBe(false);
  });

  it('reaches the highest level all of whose steps succeeded', () => {
    const both = { mysqldump: true, freeze: true };
    expect(reachedLevel(both, [ok('mysqldump'), ok('fsfreeze')])).toBe('application');
    expect(reachedLevel(both, [failed('mysqldump'), ok('fsfreeze')])).toBe('filesystem');
    expect(reachedLevel(both, [ok('mysqldump'), failed('fsfreeze')])).toBe('crash');
    expect(reachedLevel({ mysqldump: true, freeze: false }, [ok('mysqldump')])).toBe('application');
    expect(reachedLevel({ mysqldump: true, freeze: false }, [failed('mysqldump')])).toBe('crash');
    expect(shortfallReason([failed('mysqldump')])).toBe('mysqldump: SSH_UNREACHABLE: refused');
    expect(shortfallReason([ok('mysqldump')])).toBeNull();
  });

  it('knows a complete dump by its trailer and reads the binlog position', () => {
    expect(dumpCompleted('INSERT ...;\n-- Dump completed on 2026-12-01 15:00:01\n')).toBe(true);
    expect(dumpCompleted('INSERT INTO t VALUES (1),(2')).toBe(false);
    expect(dumpCompleted('-- Dump completed on 2026-12-01\nINSERT INTO t VALUES (1);\n')).toBe(
      false,
    );
    const head =
      "--\n-- Position to start replication or point-in-time recovery from\n--\n\n-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000042', MASTER_LOG_POS=1337;\n";
    expect(parseBinlogPosition(head)).toEqual({ file: 'mysql-bin.000042', position: 1337 });
    expect(parseBinlogPosition('-- MySQL dump 10.19\n')).toBeNull();
  });
});
