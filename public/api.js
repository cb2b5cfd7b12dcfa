/**
 * The API client: adds the key as a bearer token (never in the URL), turns problem+json
 * answers into ApiError, and pages through long lists.
 */

/** An error answer of the API (RFC 9457 problem details), or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `Request failed (${status})`);
    this.status = status;
    this.code = problem?.code ?? 'error';
    /** @type {{field: string, message: string}[]} */
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * @param {() => string | null} getKey the current API key
 * @param {(err: ApiError) => void} onUnauthorized called on any 401 (key expired or revoked)
 */
export function createApi(getKey, onUnauthorized) {
  async function request(method, path, { params, body, key } = {}) {
    const headers = { accept: 'application/json' };
    const k = key ?? getKey();
    if (k) headers.authorization = `Bearer ${k}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(`/api/v1${path}${query(params)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, { code: 'network', detail: 'The server could not be reached. Check the connection.' });
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const err = new ApiError(res.status, json);
      if (res.status === 401 && !key) onUnauthorized(err);
      throw err;
    }
    return { data: json, total: Number(res.headers.get('x-total-count') ?? Number.NaN) };
  }

  return {
    get: async (path, params, opts) => (await request('GET', path, { params, ...opts })).data,
    post: async (path, body) => (await request('POST', path, { body })).data,
    del: async (path) => (await request('DELETE', path)).data,

    /**
     * Every item of a paged list: `{page,size,total,items}` bodies, or arrays with an
     * X-Total-Count header. The first page gives the total, the rest load in parallel.
     * When the total exceeds `maxItems`, only the first page is returned, with `truncated`.
     */
    async getAll(path, params, { size = 1000, maxItems = 20_000 } = {}) {
      const first = await request('GET', path, { params: { ...params, size, page: 1 } });
      const itemsOf = (r) => (Array.isArray(r.data) ? r.data : r.data.items);
      const total = Array.isArray(first.data) ? first.total : first.data.total;
      const items = [...itemsOf(first)];
      if (total > maxItems) return { items, total, truncated: true };
      const pages = Math.ceil(total / size);
      const rest = [];
      for (let page = 2; page <= pages; page++) rest.push(request('GET', path, { params: { ...params, size, page } }));
      for (const r of await Promise.all(rest)) items.push(...itemsOf(r));
      return { items, total, truncated: false };
    },
  };
}
