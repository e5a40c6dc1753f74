cd examples/sam
sam build
sam deploy --guided
