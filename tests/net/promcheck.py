#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Parse a Prometheus text exposition with the reference parser
(python3-prometheus-client) and print one line per sample:
    name{label="value",...} value
with labels sorted, so tests can look samples up by exact text.
Exit 1 (with the parser's message) if the exposition does not parse."""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1]).read()
    try:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
                print("%s{%s} %r" % (s.name, labels, float(s.value)))
    except Exception as e:  # the parser raises ValueError and friends
        print("parse error: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
