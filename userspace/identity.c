// SPDX-License-Identifier: GPL-2.0-only
/*
 * X.509 leaf certificate -> struct gw_identity. Called once per connection
 * after verification succeeded; everything is copied out so the certificate
 * can be freed. Pure apart from allocation: nothing is printed, OpenSSL
 * errors stay on the queue for the caller to drain.
 *
 * Fail closed: a value that cannot be represented faithfully as a C string
 * (an embedded NUL, an unconvertible string type, a malformed IP SAN, two
 * SAN extensions) makes the whole identity NULL rather than letting a
 * truncated or partial value reach policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "identity.h"
#include "tcache.h"
#include "util.h"

#define SPIFFE_SCHEME "spiffe://"

/* malloc'd copy of data[0..len), or NULL if it holds a NUL byte. */
static char *memdup_str(const void *data, size_t len)
{
	char *s;

	if (memchr(data, '\0', len))
		return NULL;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* The raw bytes of an IA5String (DNS, URI SAN) as a C string. */
static char *asn1_strdup(const ASN1_STRING *a)
{
	int len = ASN1_STRING_length(a);

	if (len < 0)
		return NULL;
	return memdup_str(ASN1_STRING_get0_data(a), (size_t)len);
}

/* Append s (taken over) to a string vector. 0 or -ENOMEM; s freed on error. */
static int strv_push(char ***v, unsigned int *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

/*
 * RFC 2253 string of a name, most significant RDN last, with UTF-8 kept as
 * is (ESC_MSB off) but control characters, NUL included, escaped as \XX.
 */
static char *name_to_str(const X509_NAME *name)
{
	unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
	char *data, *s = NULL;
	long len;
	BIO *bio;

	if (!name)
		return NULL;
	bio = BIO_new(BIO_s_mem());
	if (!bio)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, flags) < 0)
		goto out_free_bio;
	len = BIO_get_mem_data(bio, &data);
	if (len < 0)
		goto out_free_bio;
	s = memdup_str(len ? data : "", (size_t)len);
out_free_bio:
	BIO_free(bio);
	return s;
}

/*
 * Subject attributes in certificate order as (short name, UTF-8 value).
 * An attribute without a short name is keyed by its dotted OID.
 */
static int get_subject_attrs(struct gw_identity *id, const X509_NAME *name)
{
	int i, count = X509_NAME_entry_count(name);
	unsigned char *utf8;
	char oid[128];
	const char *key;
	int len, nid;

	if (count <= 0)
		return 0;
	id->subject_attrs = calloc((size_t)count, sizeof(*id->subject_attrs));
	if (!id->subject_attrs)
		return -ENOMEM;

	for (i = 0; i < count; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		struct gw_name_attr *a = &id->subject_attrs[i];
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);

		nid = OBJ_obj2nid(obj);
		key = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
		if (!key) {
			len = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
			if (len <= 0 || len >= (int)sizeof(oid))
				return -EINVAL;
			key = oid;
		}

		utf8 = NULL;
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		if (len < 0)
			return -EINVAL;
		a->value = memdup_str(utf8 ? (const char *)utf8 : "", (size_t)len);
		OPENSSL_free(utf8);
		a->key = strdup(key);
		/* Count the slot even when half-filled so free() sees it. */
		id->n_subject_attrs++;
		if (!a->key || !a->value)
			return -EINVAL;
	}
	return 0;
}

/*
 * Serial as upper-case hex, two digits per byte of the magnitude with the
 * leading zero bytes (DER sign padding) dropped, the way `openssl x509
 * -serial` and BN_bn2hex show it: "0A1B", "0" for zero, "-" when negative.
 */
static char *serial_to_str(const ASN1_INTEGER *sn)
{
	static const char digits[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t i = 0, len;
	char *s, *o;
	int n;

	if (!sn)
		return NULL;
	n = ASN1_STRING_length(sn);
	if (n < 0)
		return NULL;
	p = ASN1_STRING_get0_data(sn);
	len = (size_t)n;
	while (i < len && !p[i])
		i++;
	if (i == len)
		return strdup("0");

	s = malloc(1 + 2 * (len - i) + 1);
	if (!s)
		return NULL;
	o = s;
	if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER)
		*o++ = '-';
	for (; i < len; i++) {
		*o++ = digits[p[i] >> 4];
		*o++ = digits[p[i] & 0xf];
	}
	*o = '\0';
	return s;
}

/* An iPAddress SAN (4 or 16 bytes) as a printable address. */
static char *ip_to_str(const ASN1_OCTET_STRING *ip)
{
	char buf[INET6_ADDRSTRLEN];
	int len = ASN1_STRING_length(ip);
	int family;

	if (len == 4)
		family = AF_INET;
	else if (len == 16)
		family = AF_INET6;
	else
		return NULL;
	if (!inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof(buf)))
		return NULL;
	return strdup(buf);
}

/* DNS, URI and IP subjectAltNames; other name types are ignored. */
static int get_sans(struct gw_identity *id, X509 *cert)
{
	GENERAL_NAMES *gens;
	int i, crit = 0, err = 0;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (!gens)	/* -1: absent; otherwise duplicated or undecodable */
		return crit == -1 ? 0 : -EINVAL;

	for (i = 0; i < sk_GENERAL_NAME_num(gens) && !err; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);

		switch (gn->type) {
		case GEN_DNS:
			err = strv_push(&id->san_dns, &id->n_san_dns,
					asn1_strdup(gn->d.dNSName));
			break;
		case GEN_URI:
			err = strv_push(&id->san_uri, &id->n_san_uri,
					asn1_strdup(gn->d.uniformResourceIdentifier));
			break;
		case GEN_IPADD:
			err = strv_push(&id->san_ip, &id->n_san_ip,
					ip_to_str(gn->d.iPAddress));
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	return err;
}

/* The one spiffe:// URI SAN; NULL when there is none or more than one. */
static const char *find_spiffe_id(const struct gw_identity *id)
{
	const char *found = NULL;
	unsigned int i;

	for (i = 0; i < id->n_san_uri; i++) {
		if (strncmp(id->san_uri[i], SPIFFE_SCHEME, strlen(SPIFFE_SCHEME)))
			continue;
		if (found)
			return NULL;
		found = id->san_uri[i];
	}
	return found;
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	/* ASN1_TIME_to_tm(NULL) would mean "now": refuse instead. */
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static bool identity_matches(const void *obj, const void *key)
{
	const struct gw_identity *id = obj;

	return !memcmp(id->sha256, key, sizeof(id->sha256));
}

static void identity_put(void *obj)
{
	gw_identity_free(obj);
}

static const struct gw_tcache_ops identity_ops = {
	.matches = identity_matches,
	.put = identity_put,
	.refs = offsetof(struct gw_identity, refs),
};

static uint64_t sha256_hash(const unsigned char *md)
{
	uint64_t h;

	memcpy(&h, md, sizeof(h));
	return h;
}

/*
 * Every string of id, one order for all that walk them: sizing, moving
 * into one block and freeing an identity being built (whose strings may
 * still be NULL).
 */
static void each_str(struct gw_identity *id, void (*fn)(char **s, void *arg), void *arg)
{
	char **v[] = { id->san_dns, id->san_uri, id->san_ip };
	const unsigned int n[] = { id->n_san_dns, id->n_san_uri, id->n_san_ip };
	unsigned int i, k;

	fn(&id->subject, arg);
	fn(&id->issuer, arg);
	fn(&id->serial, arg);
	for (i = 0; i < id->n_subject_attrs; i++) {
		fn(&id->subject_attrs[i].key, arg);
		fn(&id->subject_attrs[i].value, arg);
	}
	for (k = 0; k < 3; k++)
		for (i = 0; i < n[k]; i++)
			fn(&v[k][i], arg);
}

static void str_free(char **s, void *arg)
{
	(void)arg;
	free(*s);
}

static void str_size(char **s, void *arg)
{
	*(size_t *)arg += strlen(*s) + 1;
}

/* *s moved to *arg (a char ** into the block), which moves past it. */
static void str_move(char **s, void *arg)
{
	char **at = arg;
	size_t n = strlen(*s) + 1;

	*s = memcpy(*at, *s, n);
	*at += n;
}

/* An identity being built: every part its own block. */
static void parts_free(struct gw_identity *id)
{
	each_str(id, str_free, NULL);
	free(id->subject_attrs);
	free(id->san_dns);
	free(id->san_uri);
	free(id->san_ip);
	free(id);
}

/* n pointers of v at *slots (moved past them); NULL for none, as built. */
static char **pack_strv(char ***slots, char **v, unsigned int n)
{
	char **d = *slots;

	if (!n)
		return NULL;
	memcpy(d, v, n * sizeof(*v));
	*slots += n;
	return d;
}

/*
 * The identity built in parts, moved into one block: a connection keeps
 * it for its whole life, and a dozen small blocks cost their malloc
 * headers and rounding (about a third of it) and scatter across the heap
 * among what the handshake freed. The block holds the struct, the
 * attribute and SAN arrays, then the strings. Consumes id; NULL without
 * memory.
 */
static struct gw_identity *pack(struct gw_identity *id)
{
	unsigned int nv = id->n_san_dns + id->n_san_uri + id->n_san_ip;
	size_t len = 0, head;
	struct gw_identity *p;
	char **slot, *at;

	each_str(id, str_size, &len);
	head = sizeof(*p) + id->n_subject_attrs * sizeof(*p->subject_attrs) + nv * sizeof(char *);
	p = malloc(head + len);
	if (!p) {
		parts_free(id);
		return NULL;
	}
	/* The arrays copied first, still naming id's strings; then each moved. */
	*p = *id;
	p->subject_attrs = NULL;
	if (id->n_subject_attrs)
		p->subject_attrs = memcpy(p + 1, id->subject_attrs,
					  id->n_subject_attrs * sizeof(*p->subject_attrs));
	slot = (char **)((struct gw_name_attr *)(p + 1) + id->n_subject_attrs);
	p->san_dns = pack_strv(&slot, id->san_dns, id->n_san_dns);
	p->san_uri = pack_strv(&slot, id->san_uri, id->n_san_uri);
	p->san_ip = pack_strv(&slot, id->san_ip, id->n_san_ip);
	at = (char *)p + head;
	each_str(p, str_move, &at);
	p->spiffe_id = find_spiffe_id(p);
	parts_free(id);
	return p;
}

struct gw_identity *gw_identity_from_x509(X509 *cert)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	struct gw_identity *id;

	if (!cert)
		return NULL;
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != sizeof(md))
		return NULL;
	id = gw_tcache_find(GW_TCACHE_IDENTITY, &identity_ops, sha256_hash(md), md);
	if (id)
		return id;
	id = calloc(1, sizeof(*id));
	if (!id)
		return NULL;
	id->refs = 1;
	memcpy(id->sha256, md, sizeof(md));

	id->subject = name_to_str(X509_get_subject_name(cert));
	id->issuer = name_to_str(X509_get_issuer_name(cert));
	id->serial = serial_to_str(X509_get0_serialNumber(cert));
	if (!id->subject || !id->issuer || !id->serial)
		goto out_free_id;
	if (get_subject_attrs(id, X509_get_subject_name(cert)))
		goto out_free_id;

	if (get_sans(id, cert))
		goto out_free_id;
	id->spiffe_id = find_spiffe_id(id);

	if (asn1_time_to_time_t(X509_get0_notBefore(cert), &id->not_before) ||
	    asn1_time_to_time_t(X509_get0_notAfter(cert), &id->not_after))
		goto out_free_id;
	id = pack(id);
	if (id)
		gw_tcache_add(GW_TCACHE_IDENTITY, &identity_ops, sha256_hash(md), id);
	return id;

out_free_id:
	parts_free(id);
	return NULL;
}

void gw_identity_free(struct gw_identity *id)
{
	/* One block (pack): the strings and arrays are inside it. */
	if (id && !__atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL))
		free(id);
}

const char *gw_identity_sha256_hex(const struct gw_identity *id, char *buf)
{
	if (gw_hex(id->sha256, sizeof(id->sha256), true, buf, GW_SHA256_HEX_LEN))
		buf[0] = '\0';
	return buf;
}
