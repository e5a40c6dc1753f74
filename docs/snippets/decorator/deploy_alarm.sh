aws cloudformation deploy --template-file examples/sam/alarm.yaml --stack-name reports-sts-alarm \
  --parameter-overrides MetricsNamespace=Reports ServiceName=reports
