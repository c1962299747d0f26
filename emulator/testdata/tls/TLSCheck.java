// Connects to the emulator's TLS port as the Java SDK's TLS does (JSSE,
// host name verified, trust from javax.net.ssl.trustStore), sends the AMQP
// protocol header and prints the one the emulator answers with. Run by
// emulator/tls_test.go: java -Djavax.net.ssl.trustStore=... TLSCheck.java HOST PORT
import java.io.DataInputStream;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

public class TLSCheck {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket socket = (SSLSocket) factory.createSocket(args[0], Integer.parseInt(args[1]))) {
            socket.setSoTimeout(20000);
            SSLParameters params = socket.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(params);
            socket.startHandshake();
            socket.getOutputStream().write(new byte[] {'A', 'M', 'Q', 'P', 0, 1, 0, 0});
            socket.getOutputStream().flush();
            byte[] header = new byte[8];
            new DataInputStream(socket.getInputStream()).readFully(header);
            System.out.printf("%s %s %s %d %d %d %d%n", socket.getSession().getProtocol(), socket.getSession().getCipherSuite(),
                new String(header, 0, 4, "US-ASCII"), header[4], header[5], header[6], header[7]);
        }
    }
}
