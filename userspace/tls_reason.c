// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reason tokens and details of failed handshakes (tls_reason.h): the
 * X509_V_ERR_* codes verification recorded, then the OpenSSL errors that
 * end a handshake before or without verification.
 */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls_reason.h"

static const struct {
	int err;
	const char *reason;
} x509_reasons[] = {
	{ X509_V_ERR_CERT_HAS_EXPIRED, "expired" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "not_yet_valid" },
	{ X509_V_ERR_CERT_REVOKED, "revoked" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown_ca" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown_ca" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown_ca" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "unknown_ca" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "unknown_ca" },
	{ X509_V_ERR_CERT_UNTRUSTED, "unknown_ca" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad_signature" },
	{ X509_V_ERR_INVALID_PURPOSE, "bad_eku" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "too_deep" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED, "too_deep" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL, "weak_key" },
	{ X509_V_ERR_EC_KEY_EXPLICIT_PARAMS, "weak_key" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "weak_signature" },
	{ X509_V_ERR_INVALID_NON_CA, "ca_as_client" },
	{ X509_V_ERR_INVALID_CA, "invalid_ca" },
	{ X509_V_ERR_UNABLE_TO_GET_CRL, "crl_missing" },
	{ X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, "crl_missing" },
	{ X509_V_ERR_CRL_HAS_EXPIRED, "crl_expired" },
	{ X509_V_ERR_CRL_NOT_YET_VALID, "crl_not_yet_valid" },
	{ X509_V_ERR_CRL_SIGNATURE_FAILURE, "crl_invalid" },
	{ X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, "crl_invalid" },
};

const char *gw_tls_x509_reason(int x509_err)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(x509_reasons); i++)
		if (x509_reasons[i].err == x509_err)
			return x509_reasons[i].reason;
	return "bad_certificate";
}

/*
 * The client's Certificate message announced more bytes than
 * max_cert_list (tls.c: the bound verify_depth sets): OpenSSL refused it
 * from its header, before reading it.
 */
static bool cert_list_too_big(SSL *ssl, unsigned long ssl_err)
{
	return ERR_GET_LIB(ssl_err) == ERR_LIB_SSL &&
	       ERR_GET_REASON(ssl_err) == SSL_R_EXCESSIVE_MESSAGE_SIZE &&
	       SSL_get_state(ssl) == TLS_ST_SR_CERT;
}

const char *gw_tls_fail_reason(SSL *ssl, const struct gw_verify_result *vr,
			       unsigned long ssl_err)
{
	if (vr->reason)
		return vr->reason;
	if (vr->x509_err)
		return gw_tls_x509_reason(vr->x509_err);
	if (!ssl_err)
		return "client_closed";
	if (cert_list_too_big(ssl, ssl_err))
		return "too_deep";
	if (ERR_GET_LIB(ssl_err) != ERR_LIB_SSL)
		return "handshake_error";
	switch (ERR_GET_REASON(ssl_err)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return "no_cert";
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_UNKNOWN_PROTOCOL:
		return "protocol_version";
	case SSL_R_NO_SHARED_CIPHER:
		return "no_shared_cipher";
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return "not_tls";
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return "client_closed";
	}
	if (ERR_GET_REASON(ssl_err) >= SSL_AD_REASON_OFFSET)
		return "client_alert";
	return "handshake_error";
}

void gw_tls_fail_detail(SSL *ssl, const struct gw_verify_result *vr, unsigned long ssl_err,
			char *buf, size_t len)
{
	int depth = SSL_get_verify_depth(ssl);
	int err = -1;

	if (vr->certs_sent)
		err = gw_snprintf(buf, len,
				  "the client sent %u certificates; verify_depth %d allows %d: its own, %d intermediates, a trust anchor",
				  vr->certs_sent, depth, gw_tls_max_client_certs(depth), depth);
	else if (!vr->reason && !vr->x509_err && cert_list_too_big(ssl, ssl_err))
		err = gw_snprintf(buf, len,
				  "the client's Certificate message is over %ld bytes, the most verify_depth %d allows",
				  SSL_get_max_cert_list(ssl), depth);
	if (err) {
		gw_ssl_errors(buf, len);
		return;
	}
	ERR_clear_error();
}
