/**
 * Closing a connection whose client may still be sending. Destroying a socket with unread
 * input makes the kernel answer with RST, and a client still writing its request body (an
 * upload refused with 413 before it was read) then loses the answer that was already on its
 * way: it sees "connection reset" instead of the refusal. Web servers solve this with a
 * lingering close (nginx's `lingering_close`); Node's HTTP server does not, so the API does
 * it here (the metrics endpoint takes no bodies).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a closed connection keeps reading (and discarding) what its client still sends. */
export const LINGER_MS = 5_000;

/**
 * Ends our side of `socket` (what is written goes out, then FIN), then reads and discards
 * what the client still sends until it hangs up or `lingerMs` pass, and only then destroys
 * the socket. Never waits longer than `lingerMs` once our answer has gone out.
 */
export function lingeringClose(socket: Socket, lingerMs = LINGER_MS): void {
  if (socket.destroyed) return;
  const linger = (): void => {
    if (socket.destroyed) return;
    if (socket.readableEnded) {
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    socket.resume();
  };
  if (socket.writable) socket.end();
  if (socket.writableFinished) linger();
  else socket.once('finish', linger);
}

/**
 * Makes every connection of `server` close by lingering: Node's HTTP server closes a
 * connection that is done (`Connection: close`, an answer before the body was read) with
 * `socket.destroySoon()`, which is where the RST comes from.
 */
export function lingerOnClose(server: Server, lingerMs = LINGER_MS): void {
  server.on('connection', (socket: Socket) => {
    socket.destroySoon = () => lingeringClose(socket, lingerMs);
  });
}
