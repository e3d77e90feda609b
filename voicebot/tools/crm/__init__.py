"""CRM back ends behind one protocol (``base``): the embedded ``local``, Dynamics 365, Zendesk; their HTTP client."""
