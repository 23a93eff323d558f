/**
 * Mail over TLS against a real SMTP server on loopback (npm smtp-server) with a certificate
 * of its own: STARTTLS and smtps:// with the operator's CA file, a certificate nobody
 * vouches for refused, and a password never sent to a server that offers no STARTTLS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsOf } from '../../src/config/settings.js';
import { mailSettingsOf, mailerOptionsOf } from '../../src/report/mail-settings.js';
import { smtpMailer, type OutgoingMail } from '../../src/report/mailer.js';
import { parseSmtpUrl } from '../../src/report/smtp-settings.js';
import { selfSignedCertificate, startSmtpSink, type SmtpSink } from './smtp-sink.js';

let dir: string;
let cert: { key: string; cert: string; certFile: string };
const sinks: SmtpSink[] = [];

function mail(n: number): OutgoingMail {
  return {
    from: 'backup@cloud.example',
    to: ['oncall@cloud.example'],
    subject: `report ${n}`,
    text: 'all good',
    html: '<p>all good</p>',
    messageId: `<tls-${n}@cloud.example>`,
  };
}

async function sink(o: Parameters<typeof startSmtpSink>[0]): Promise<SmtpSink> {
  const s = await startSmtpSink(o);
  sinks.push(s);
  return s;
}

/** The mailer the controller would build from these settings. */
function mailerFor(env: Record<string, string>) {
  const settings = mailSettingsOf(
    settingsOf({
      CLB_MAIL_FROM: 'backup@cloud.example',
      CLB_MAIL_TO: 'oncall@cloud.example',
      ...env,
    }),
  );
  if (settings === null) throw new Error('mail is off');
  return smtpMailer({ ...mailerOptionsOf(settings), timeoutSeconds: 5 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clb-smtp-tls-'));
  cert = await selfSignedCertificate(dir);
});

afterAll(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('mail over TLS', () => {
  it('sends over STARTTLS, logging in only inside TLS, with the CA from [mail] ca_file', async () => {
    const s = await sink({ tls: cert });
    const send = mailerFor({
      CLB_SMTP_URL: `smtp://reporter:pa55@127.0.0.1:${s.port}`,
      CLB_MAIL_CA_FILE: cert.certFile,
    });
    await send(mail(1));
    expect(s.mails.map((m) => m.headers.get('subject'))).toEqual(['report 1']);
    expect(s.secure).toEqual([true]);
    expect(s.logins).toEqual([{ user: 'reporter', pass: 'pa55' }]);
  });

  it('sends over smtps:// (TLS from the first byte)', async () => {
    const s = await sink({ tls: cert, implicitTls: true });
    const send = mailerFor({
      CLB_SMTP_URL: `smtps://127.0.0.1:${s.port}`,
      CLB_MAIL_CA_FILE: cert.certFile,
    });
    await send(mail(2));
    expect(s.secure).toEqual([true]);
  });

  it('refuses a certificate no configured CA signed, sending nothing', async () => {
    const s = await sink({ tls: cert });
    const send = mailerFor({ CLB_SMTP_URL: `smtp://reporter:pa55@127.0.0.1:${s.port}` });
    const err = await send(mail(3)).then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('MAIL_UNAVAILABLE');
    expect(err?.message).toMatch(/self[- ]signed|certificate/i);
    expect(s.mails).toEqual([]);
    expect(s.logins).toEqual([]);
  });

  it('never sends a password to a server without STARTTLS unless require_tls = false', async () => {
    const s = await sink({});
    const url = `smtp://reporter:pa55@127.0.0.1:${s.port}`;
    await expect(mailerFor({ CLB_SMTP_URL: url })(mail(4))).rejects.toMatchObject({
      code: 'MAIL_UNAVAILABLE',
    });
    expect(s.logins).toEqual([]);
    expect(s.mails).toEqual([]);
    // The operator's explicit choice (a relay on a trusted link) is honoured.
    await mailerFor({ CLB_SMTP_URL: url, CLB_MAIL_REQUIRE_TLS: 'false' })(mail(5));
    expect(s.secure).toEqual([false]);
    expect(s.logins).toEqual([{ user: 'reporter', pass: 'pa55' }]);
  });

  it('uses STARTTLS when offered, and goes plain only where no password is at stake', async () => {
    const plain = await sink({});
    await mailerFor({ CLB_SMTP_URL: `smtp://127.0.0.1:${plain.port}` })(mail(6));
    expect(plain.secure).toEqual([false]);
    const offered = await sink({ tls: cert });
    await mailerFor({
      CLB_SMTP_URL: `smtp://127.0.0.1:${offered.port}`,
      CLB_MAIL_CA_FILE: cert.certFile,
    })(mail(7));
    expect(offered.secure).toEqual([true]);
  });

  it('names an unreadable CA file as a configuration error', () => {
    let err: { code?: string; message: string } | null = null;
    try {
      smtpMailer({ server: parseSmtpUrl('smtp://127.0.0.1:25'), caFile: join(dir, 'missing.pem') });
    } catch (e) {
      err = e as { code?: string; message: string };
    }
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toMatch(/ca_file .*ENOENT/);
  });
});
