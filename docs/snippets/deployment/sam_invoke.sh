sam remote invoke ReportsFunction --stack-name powertools-sts-quick-start --event '{"hello": "world"}'
sam logs --stack-name powertools-sts-quick-start --name ReportsFunction --tail
