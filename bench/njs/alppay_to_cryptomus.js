// The load benchmark's peer: what a platform team would write instead of payglot, with nginx and
// its JavaScript module (njs). An AlpPay merchant's create (POST /v2/payment) is verified
// (X-HMAC: hex HMAC-SHA256 of the raw body with the merchant's secret), rewritten into the
// Cryptomus create payglot sends for it (PHP-escaped compact JSON, `sign` = md5(base64(body) +
// payment key)), sent to the Cryptomus upstream through an nginx subrequest (a keep-alive
// upstream pool), and the Cryptomus answer is rewritten into AlpPay's payment object.
//
// One merchant and one upstream, as in bench/payglot-translate.yaml; the credentials come from
// the environment (nginx's `env` directive), the shop profile is written here.
const crypto = require('crypto');

const MERCHANT = {
    keyId: process.env.PEER_ALPPAY_KEY_ID,
    secret: process.env.PEER_ALPPAY_SECRET,
    name: 'Bench Shop',
    siteUrl: 'https://shop.example',
    email: 'billing@shop.example',
    logoUrl: '',
};
const UPSTREAM = {
    merchant: process.env.PEER_CRYPTOMUS_MERCHANT,
    key: process.env.PEER_CRYPTOMUS_KEY,
    // An internal location that proxies to the provider's API base.
    location: '/_cryptomus/payment',
};

// Chain names: AlpPay's and Cryptomus's, keyed by the chain.
const CHAINS = {
    tron: { alppay: 'tron', cryptomus: 'tron' },
    ethereum: { alppay: 'ethereum', cryptomus: 'eth' },
    ton: { alppay: 'ton', cryptomus: 'ton' },
    solana: { alppay: 'solana', cryptomus: 'sol' },
    bsc: { cryptomus: 'bsc' },
    bitcoin: { cryptomus: 'btc' },
    litecoin: { cryptomus: 'ltc' },
    polygon: { cryptomus: 'polygon' },
};
const ALPPAY_ALIASES = { trc20: 'tron' };

// Own keys only: a name like "constructor" must not find the object's prototype.
function lookup(table, key) {
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

function chainFrom(dialect, name) {
    if (typeof name !== 'string') return undefined;
    const lower = name.toLowerCase();
    if (dialect === 'alppay' && lookup(ALPPAY_ALIASES, lower)) return ALPPAY_ALIASES[lower];
    return Object.keys(CHAINS).find((c) => CHAINS[c][dialect] === lower);
}

const ASSET_NAMES = {
    USDT: 'Tether', USDC: 'USD Coin', BTC: 'Bitcoin', ETH: 'Ethereum', TRX: 'TRON',
    TON: 'Toncoin', SOL: 'Solana', LTC: 'Litecoin', BNB: 'BNB', DOGE: 'Dogecoin',
    BCH: 'Bitcoin Cash', XRP: 'XRP',
};

// Cryptomus status words -> AlpPay (status, displayStatus) and whether money arrived.
const AWAITING = ['OPEN', 'OPEN', false];
const STATUSES = {
    check: AWAITING, process: AWAITING, waiting: AWAITING,
    confirm_check: ['OPEN', 'OPEN', true], confirming: ['OPEN', 'OPEN', true],
    confirmed: ['OPEN', 'OPEN', true], sending: ['OPEN', 'OPEN', true],
    wrong_amount_waiting: ['OPEN', 'UNDERPAID', true], locked: ['OPEN', 'AML_CHECK_DANGER', true],
    paid: ['COMPLETED', 'COMPLETED', true], finished: ['COMPLETED', 'COMPLETED', true],
    paid_over: ['COMPLETED', 'OVERPAID', true], refund_fail: ['COMPLETED', 'COMPLETED', true],
    wrong_amount: ['EXPIRED', 'UNDERPAID', true], partially_paid: ['EXPIRED', 'UNDERPAID', true],
    cancel: ['EXPIRED', 'EXPIRED', false], expired: ['EXPIRED', 'EXPIRED', false],
    fail: ['CANCELLED', 'EXPIRED', false], system_fail: ['CANCELLED', 'EXPIRED', false],
    failed: ['CANCELLED', 'EXPIRED', false], refund_process: ['CANCELLED', 'EXPIRED', true],
    refund_paid: ['CANCELLED', 'EXPIRED', true], refunded: ['CANCELLED', 'EXPIRED', true],
};

// njs keeps no insertion order for object keys, and both providers' bodies have a documented
// field order: objects are written from [key, value] lists. A value is a scalar, an array, or
// another such object.
function Ordered(pairs) {
    this.pairs = pairs;
}

function json(value) {
    if (value instanceof Ordered) {
        return '{' + value.pairs.map((p) => JSON.stringify(p[0]) + ':' + json(p[1])).join(',') + '}';
    }
    if (Array.isArray(value)) return '[' + value.map(json).join(',') + ']';
    return value === undefined ? 'null' : JSON.stringify(value);
}

function answer(r, status, body) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, body);
}

function refuse(r, status, code, message) {
    answer(r, status, json(new Ordered([['code', code], ['message', message],
        ['requestId', r.variables.request_id]])));
}

// Hex strings compared without an early exit, so timing does not tell how much matched.
function sameHex(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    return diff === 0;
}

function isText(v) {
    return typeof v === 'string' && v.trim().length > 0 && v.length <= 255;
}

// Cryptomus order_id: 1-128 of [A-Za-z0-9_-]; anything else gets a legal derived id.
function orderId(reference) {
    if (/^[A-Za-z0-9_-]{1,128}$/.test(reference)) return reference;
    let clean = '';
    const chars = Array.from(reference);
    for (let i = 0; i < chars.length; i++) {
        const c = chars[i];
        if (clean.length >= 100) break;
        const next = /[A-Za-z0-9_-]/.test(c) ? c : '-';
        if (next === '-' && clean.endsWith('-')) continue;
        clean += next;
    }
    clean = clean.replace(/^-+|-+$/g, '');
    const digest = crypto.createHash('sha256').update(reference).digest('hex').slice(0, 16);
    return clean ? clean + '-' + digest : 'ref-' + digest;
}

// PHP's json_encode escapes `/`, U+2028 and U+2029; Cryptomus's SDKs sign such bytes.
function phpEscape(json) {
    return json.replace(/\//g, '\\/').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function readRequest(r) {
    if (r.headersIn['API-KEY'] !== MERCHANT.keyId) {
        return [401, 'unauthorized', 'unknown API-KEY'];
    }
    const raw = r.requestBuffer || Buffer.from('');
    const claimed = (r.headersIn['X-HMAC'] || '').toLowerCase();
    const expected = crypto.createHmac('sha256', MERCHANT.secret).update(raw).digest('hex');
    if (!sameHex(claimed, expected)) {
        return [401, 'unauthorized', 'X-HMAC does not match the body and the HMAC secret'];
    }
    let create;
    try {
        create = JSON.parse(raw.toString());
    } catch (e) {
        return [400, 'invalid_request', 'the body is not JSON'];
    }
    const asset = create && create.asset;
    const customer = create && create.customer;
    if (!create || typeof create !== 'object' || !asset || !customer) {
        return [400, 'invalid_request', 'amount, asset and customer are required'];
    }
    const amount = typeof create.amount === 'number' ? String(create.amount) : create.amount;
    if (typeof amount !== 'string' || !/^[0-9]+(\.[0-9]+)?$/.test(amount)) {
        return [400, 'invalid_request', 'amount must be a decimal'];
    }
    const chain = chainFrom('alppay', asset.network);
    if (!isText(asset.short) || !chain || !CHAINS[chain].cryptomus) {
        return [400, 'invalid_request', 'asset is not one this gateway serves'];
    }
    const texts = [customer.name, customer.email, create.invoice, create.checkoutUrl,
        create.clientId];
    for (let i = 0; i < texts.length; i++) {
        const v = texts[i];
        if (v !== undefined && v !== null && !isText(v)) {
            return [400, 'invalid_request', 'a text field is empty or longer than 255'];
        }
    }
    create.amount = amount;
    create.chain = chain;
    return [0, create];
}

function cryptomusCreate(r, create) {
    const out = [
        ['amount', create.amount],
        ['currency', create.asset.short.toUpperCase()],
        ['order_id', orderId(create.invoice || 'pg-' + r.variables.request_id)],
        ['network', CHAINS[create.chain].cryptomus],
    ];
    // Cryptomus refuses URLs under 6 characters.
    if (typeof create.checkoutUrl === 'string' && create.checkoutUrl.length >= 6) {
        out.push(['url_success', create.checkoutUrl]);
    }
    return phpEscape(json(new Ordered(out)));
}

// RFC 3339 (Cryptomus writes `2023-07-11T20:23:52+03:00`) to milliseconds; NaN if it is not.
function parseTime(text) {
    const m = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|([+-])(\d\d):(\d\d))$/
        .exec(String(text));
    if (!m) return NaN;
    const utc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])
        + (m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
    const offset = m[9] ? (m[9] === '-' ? -1 : 1) * (+m[10] * 60 + +m[11]) * 60000 : 0;
    return utc - offset;
}

function utcSeconds(ms) {
    return new Date(ms).toISOString().slice(0, 19) + 'Z';
}

function alppayPayment(create, invoice) {
    const word = [invoice.status, invoice.payment_status].find((w) => lookup(STATUSES, w));
    if (!word) return null;
    const status = STATUSES[word][0];
    const displayStatus = STATUSES[word][1];
    const arrived = STATUSES[word][2];
    const due = invoice.payer_amount != null ? invoice.payer_amount : invoice.amount;
    const currency = (invoice.payer_amount != null && invoice.payer_currency) || invoice.currency
        || create.asset.short.toUpperCase();
    const chain = chainFrom('cryptomus', invoice.network) || create.chain;
    const asset = new Ordered([
        ['short', currency],
        ['name', lookup(ASSET_NAMES, currency.toUpperCase()) || currency],
        ['logoUrl', ''],
        ['network', (lookup(CHAINS, chain) && CHAINS[chain].alppay) || chain],
    ]);
    const created = invoice.created_at ? parseTime(invoice.created_at) : NaN;
    const updated = invoice.updated_at ? parseTime(invoice.updated_at) : created;
    const expires = invoice.expired_at == null ? NaN : Number(invoice.expired_at);
    const timeout = isNaN(created) || isNaN(expires)
        ? null : Math.max(0, Math.trunc(expires - created / 1000));
    const transactions = invoice.txid != null || invoice.from != null ? [new Ordered([
        ['paymentId', invoice.uuid],
        ['txnId', invoice.txid],
        ['receivedAmount', null],
        ['asset', asset],
        ['destTag', null],
        ['addressFrom', invoice.from],
        ['addressTo', invoice.address],
        ['date', null],
    ])] : [];
    const customerId = String(create.customer.id);
    return json(new Ordered([
        ['id', invoice.uuid],
        ['transactions', transactions],
        ['amount', due != null ? String(due) : create.amount],
        ['totalReceivedAmount', arrived && invoice.payment_amount != null
            ? String(invoice.payment_amount) : '0'],
        ['asset', asset],
        ['addressTo', invoice.address],
        ['destTag', null],
        ['confirmsNeeded', 1],
        ['timeout', timeout],
        ['checkoutUrl', create.checkoutUrl],
        ['status', status],
        ['displayStatus', displayStatus],
        ['customer', new Ordered([
            ['id', /^[0-9]{1,15}$/.test(customerId) ? Number(customerId) : customerId],
            ['name', create.customer.name],
            ['email', create.customer.email],
        ])],
        ['merchant', new Ordered([
            ['id', ''],
            ['name', MERCHANT.name],
            ['siteUrl', MERCHANT.siteUrl],
            ['logoUrl', MERCHANT.logoUrl],
            ['email', MERCHANT.email],
        ])],
        ['invoice', create.invoice],
        ['paymentRedirectUrl', invoice.url],
        ['createdAt', isNaN(created) ? null : utcSeconds(created)],
        ['updatedAt', isNaN(updated) ? null : utcSeconds(updated)],
    ]));
}

async function create(r) {
    const outcome = readRequest(r);
    if (outcome[0]) {
        refuse(r, outcome[0], outcome[1], outcome[2]);
        return;
    }
    const read = outcome[1];
    const body = cryptomusCreate(r, read);
    r.variables.cryptomus_merchant = UPSTREAM.merchant;
    r.variables.cryptomus_sign = crypto.createHash('md5')
        .update(Buffer.from(body).toString('base64') + UPSTREAM.key).digest('hex');
    let reply;
    try {
        reply = await r.subrequest(UPSTREAM.location, { method: 'POST', body: body });
    } catch (e) {
        refuse(r, 502, 'upstream_unreachable', 'the payment provider could not be reached');
        return;
    }
    let envelope;
    try {
        envelope = JSON.parse(reply.responseText);
    } catch (e) {
        refuse(r, 502, 'upstream_invalid', 'the payment provider answered something not JSON');
        return;
    }
    if (reply.status < 200 || reply.status > 299 || !envelope || envelope.state !== 0
        || !envelope.result) {
        refuse(r, 422, 'upstream_rejected', String((envelope && envelope.message)
            || 'the payment provider refused the payment'));
        return;
    }
    const payment = alppayPayment(read, envelope.result);
    if (!payment) {
        refuse(r, 502, 'upstream_unknown_status', 'the payment provider answered an unknown status');
        return;
    }
    answer(r, 200, payment);
}

export default { create };
