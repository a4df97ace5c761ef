// Guest page address rewrite: a CloudFront Function (runtime cloudfront-js-2.0, viewer request event).
//
//   /g/<id>  and  /g/<id>/   ->  /jada-guest-<ID>.html   (id upper-cased; the pipeline uploads upper-case keys)
//   any other /g or /g/...   ->  404 answered here, never sent to the bucket
//   every other path         ->  passed on unchanged
//
// Ids are 7 to 26 letters and digits: today's session ids have 13, older pages had 7 (CONTRACT.md section 7).
// The query string lives in request.querystring, not in the uri, so it passes through untouched.
// Plain ES5-style code with no imports: CloudFront loads this file as one script and calls handler(event).

var GUEST_PAGE = /^\/g\/([A-Za-z0-9]{7,26})\/?$/;

var NOT_FOUND_PAGE =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex, nofollow"><link rel="icon" href="data:,">' +
    '<title>Page not found</title></head>' +
    '<body style="font-family:sans-serif;margin:2rem;line-height:1.5">' +
    '<h1>Page not found</h1>' +
    '<p>This charter page address is not valid. Please check the link in your booking message.</p>' +
    '</body></html>';

function notFound() {
    // Viewer-request responses may skip the response headers policy, so the 404 carries its own.
    return {
        statusCode: 404,
        statusDescription: 'Not Found',
        headers: {
            'content-type': { value: 'text/html; charset=utf-8' },
            'cache-control': { value: 'no-store' },
            'x-robots-tag': { value: 'noindex, nofollow' },
            'referrer-policy': { value: 'no-referrer' },
            'x-content-type-options': { value: 'nosniff' },
            'content-security-policy': {
                value: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; " +
                    "frame-ancestors 'none'"
            }
        },
        body: { encoding: 'text', data: NOT_FOUND_PAGE }
    };
}

function handler(event) {
    var request = event.request;
    var uri = request.uri;
    if (uri !== '/g' && uri.indexOf('/g/') !== 0) {
        return request;
    }
    var match = GUEST_PAGE.exec(uri);
    if (match === null) {
        return notFound();
    }
    request.uri = '/jada-guest-' + match[1].toUpperCase() + '.html';
    return request;
}
