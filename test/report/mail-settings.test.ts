import { describe, expect, it } from 'vitest';
import { settingsOf } from '../../src/config/settings.js';
import { mailSettingsOf } from '../../src/report/mail-settings.js';
import { parseSmtpUrl } from '../../src/report/smtp-settings.js';

const BASE = {
  CLB_SMTP_URL: 'smtp://relay.example:587',
  CLB_MAIL_FROM: 'backup@cloud.example',
  CLB_MAIL_TO: 'a@cloud.example, b@cloud.example,a@cloud.example',
};

describe('mail settings', () => {
  it('are off without [mail] smtp_url', () => {
    expect(mailSettingsOf(settingsOf({}))).toBeNull();
  });

  it('read the server, sender, recipients, report time and intervals with their defaults', () => {
    const s = mailSettingsOf(
      settingsOf({ ...BASE, CLB_REPORT_AT: '06:30', CLB_MAIL_TOO_OLD_GRACE: '2h' }),
    );
    expect(s).toMatchObject({
      server: { host: 'relay.example', port: 587, secure: false, auth: null },
      from: 'backup@cloud.example',
      to: ['a@cloud.example', 'b@cloud.example'],
      reportAt: { hour: 6, minute: 30 },
      failureIntervalSeconds: 3600,
      tooOldGraceSeconds: 7200,
    });
    expect(mailSettingsOf(settingsOf(BASE))?.reportAt).toEqual({ hour: 7, minute: 0 });
  });

  it('take TLS from smtps:// and decode credentials', () => {
    expect(parseSmtpUrl('smtps://user%40x:p%3Ass@mail.example')).toEqual({
      host: 'mail.example',
      port: 465,
      secure: true,
      auth: { user: 'user@x', pass: 'p:ss' },
    });
    expect(parseSmtpUrl('smtp://[::1]:2525').host).toBe('::1');
  });

  it('refuse a URL with a path without repeating the password', () => {
    let message = '';
    try {
      parseSmtpUrl('smtp://u:hunter2@h:25/path', '[mail] smtp_url');
    } catch (err) {
      message = (err as Error).message;
      expect((err as { code?: string }).code).toBe('CONFIG_INVALID');
    }
    expect(message).toMatch(/\[mail\] smtp_url takes no path/);
    expect(message).not.toContain('hunter2');
  });

  it('are refused by the settings check when from or to is missing', () => {
    expect(() => settingsOf({ CLB_SMTP_URL: BASE.CLB_SMTP_URL })).toThrow(
      /\[mail\] smtp_url.*from and to are needed too/,
    );
  });
});
