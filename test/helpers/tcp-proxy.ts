/**
 * A TCP proxy in front of PostgreSQL that a test can break, to simulate outages of the
 * shared database server without touching it: `down()` is a server restart (open
 * connections drop, new ones are refused), `stall()` a network partition (nothing gets
 * through, nothing is refused), `up()` the recovery.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  down(): Promise<void>;
  stall(): void;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let stalled = false;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    client.on('error', () => client.destroy());
    if (stalled) return; // accepted, never answered
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  const proxy: TcpProxy = {
    port,
    async down() {
      const closed = stopListening();
      for (const s of sockets) s.destroy();
      await closed;
    },
    stall() {
      stalled = true;
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    async up() {
      if (stalled) {
        // Drop what was stalled, as a partition long enough to time out would.
        stalled = false;
        for (const s of sockets) s.destroy();
      }
      if (!server.listening) await listen(port);
    },
    async close() {
      if (server.listening) await proxy.down();
      else for (const s of sockets) s.destroy();
    },
  };
  return proxy;
}
