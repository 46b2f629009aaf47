-- behavediff trace database, schema version 3: DNS answers.
--
-- The sensor now reads DNS answers received from port 53; each answered
-- address is a net event of its own (address = the IP, domain = the name
-- asked for), so an egress connect can be named after the lookup that
-- actually returned its address.
INSERT INTO net_ops VALUES (8, 'dns_answer');
