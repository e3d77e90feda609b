"""The operator's endpoints: the API, the agent desktop, the softphone, the demo CRM pages, prompts."""
