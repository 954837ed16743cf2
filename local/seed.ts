// Seeds the `shop` demo database of the local stack: deterministic fake customers and orders.
// Runs once, on the cluster's first start; it never touches a database that already has data.

import type { PgClient } from '../shared/postgres/index.ts';

const FIRST = [
  'Ada',
  'Grace',
  'Alan',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Dennis',
  'Frances',
  'Edsger',
  'Radia',
  'John',
  'Sophie',
  'Tim',
  'Katherine',
  'Guido',
  'Hedy',
  'Bjarne',
  'Joan',
  'Niklaus',
  'Anita',
  'James',
  'Leslie',
  'Donald',
  'Marian',
  'Yukihiro',
  'Shafi',
  'Whitfield',
  'Lynn',
  'Robert',
];
const LAST = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Torvalds',
  'Hamilton',
  'Thompson',
  'Liskov',
  'Ritchie',
  'Allen',
  'Dijkstra',
  'Perlman',
  'McCarthy',
  'Wilson',
  'Berners-Lee',
  'Johnson',
  'van Rossum',
  'Lamarr',
  'Stroustrup',
  'Clarke',
  'Wirth',
  'Borg',
  'Gosling',
  'Lamport',
  'Knuth',
  'Croak',
  'Matsumoto',
  'Goldwasser',
  'Diffie',
  'Conway',
  'Kahn',
];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example', 'inbox.example.io'];
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'NL', 'SE', 'CA', 'AU', 'JP', 'BR'];
const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'refunded', 'cancelled'];
const CARD_PREFIXES = ['4', '51', '52', '53', '54', '55', '37', '6011'];

export const DEMO_COUNTS = { customers: 1000, orders: 5000 } as const;

/** mulberry32: a tiny PRNG, so every fresh stack gets the same data. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function luhnCheckDigit(partial: string): number {
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    let digit = Number(partial[partial.length - 1 - i]);
    if (i % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export interface DemoCustomer {
  name: string;
  email: string;
  phone: string;
  card_number: string;
  ssn: string;
  country: string;
  created_at: string;
}

export function demoCustomers(): DemoCustomer[] {
  const random = prng(20261122);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
  const start = Date.UTC(2023, 0, 1);
  return Array.from({ length: DEMO_COUNTS.customers }, (_, i) => {
    const first = pick(FIRST);
    const last = pick(LAST);
    const prefix = pick(CARD_PREFIXES);
    const length = prefix === '37' ? 15 : 16;
    const partial = prefix + digits(length - prefix.length - 1);
    const local = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '');
    return {
      name: `${first} ${last}`,
      email: `${local}${i + 1}@${pick(DOMAINS)}`,
      phone: `+1-${200 + Math.floor(random() * 800)}-555-${digits(4)}`,
      card_number: partial + luhnCheckDigit(partial),
      ssn: `${100 + Math.floor(random() * 800)}-${10 + Math.floor(random() * 89)}-${1000 + Math.floor(random() * 8999)}`,
      country: pick(COUNTRIES),
      created_at: new Date(start + Math.floor(random() * 3 * 365 * 86400_000)).toISOString(),
    };
  });
}

function demoOrders(): Array<{ customer_id: number; total: string; status: string; created_at: string }> {
  const random = prng(5000);
  const start = Date.UTC(2024, 0, 1);
  return Array.from({ length: DEMO_COUNTS.orders }, () => ({
    customer_id: 1 + Math.floor(random() * DEMO_COUNTS.customers),
    total: (5 + random() * 995).toFixed(2),
    status: STATUSES[Math.floor(random() * STATUSES.length)]!,
    created_at: new Date(start + Math.floor(random() * 2 * 365 * 86400_000)).toISOString(),
  }));
}

/** Creates and fills the demo schema in the given (empty) database; a no-op when it has customers. */
export async function seedShop(client: PgClient): Promise<boolean> {
  const existing = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'customers'`,
  );
  if (existing.rows[0]?.n !== '0') return false;
  await client.query('BEGIN');
  try {
    await client.query(`
      CREATE TABLE public.customers (
        id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL, phone text, card_number text,
        ssn text, country text, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE public.orders (
        id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES public.customers, total numeric(10,2) NOT NULL,
        status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE INDEX orders_customer_id ON public.orders (customer_id);`);
    const customers = demoCustomers();
    for (let i = 0; i < customers.length; i += 250) {
      const batch = customers.slice(i, i + 250);
      await client.query(
        `INSERT INTO public.customers (name, email, phone, card_number, ssn, country, created_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`,
        (['name', 'email', 'phone', 'card_number', 'ssn', 'country', 'created_at'] as const).map((key) =>
          batch.map((c) => c[key]),
        ),
      );
    }
    const orders = demoOrders();
    await client.query(
      `INSERT INTO public.orders (customer_id, total, status, created_at)
       SELECT * FROM unnest($1::int[], $2::numeric[], $3::text[], $4::timestamptz[])`,
      [
        orders.map((o) => o.customer_id),
        orders.map((o) => o.total),
        orders.map((o) => o.status),
        orders.map((o) => o.created_at),
      ],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return true;
}
