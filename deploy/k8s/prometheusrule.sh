#!/bin/sh
# Prints a PrometheusRule (for the Prometheus Operator) holding gamehall's alert rules, taken
# as they are from deploy/prometheus/alerts.yml, so that both installs alert alike and the rules
# are written once:
#
#   sh deploy/k8s/prometheusrule.sh | kubectl apply -n gamehall -f -
#
# Like servicemonitor.yaml it is not in kustomization.yaml: the kind exists only where the
# operator is installed. Its `release` label must match your Prometheus' ruleSelector.
# GamehallInstanceDown reads `up{job="gamehall"}`: servicemonitor.yaml names the job so.
set -eu
rules="$(dirname "$0")/../prometheus/alerts.yml"
[ -r "$rules" ] || { echo "prometheusrule.sh: cannot read $rules" >&2; exit 1; }
cat <<'HEAD'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: gamehall
  labels:
    app.kubernetes.io/name: gamehall
    release: kube-prometheus-stack
spec:
HEAD
# alerts.yml is a Prometheus rule file, `groups:` at its top; a PrometheusRule's spec is the same
# document one level down.
sed -e '/^#/d' -e 's/^/  /' "$rules"
