/**
 * A receiving SMTP relay on 127.0.0.1 for the mail tests: the `smtp-server` package, with
 * `mailparser` reading each message that arrives. `answers` holds the reply codes to give the
 * next RCPT TO commands (451: try later; 550: no such user); empty: accept.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/**
 * Starts a relay: what arrived, the recipients asked for, the answers to give, and close(). With
 * `starttls`, it offers STARTTLS with that PEM key and certificate (`secured` says, per message
 * received, whether its session had switched to TLS); without, it offers no STARTTLS.
 */
export async function relay(opts: { starttls?: { key: string; cert: string } } = {}) {
  const received: ParsedMail[] = [];
  const secured: boolean[] = [];
  const rcpts: string[] = [];
  const answers: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    ...(opts.starttls ? { key: opts.starttls.key, cert: opts.starttls.cert } : { disabledCommands: ['STARTTLS'] }),
    logger: false,
    onRcptTo(address, _session, cb) {
      rcpts.push(address.address);
      const code = answers.shift();
      if (code === undefined) return cb();
      cb(Object.assign(new Error(code === 451 ? 'greylisted, try again later' : 'no such user'), { responseCode: code }));
    },
    onData(stream, session, cb) {
      simpleParser(stream).then((m) => {
        received.push(m);
        secured.push(session.secure);
        cb();
      }, cb);
    },
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, secured, rcpts, answers, close: () => new Promise<void>((res) => server.close(() => res())) };
}

